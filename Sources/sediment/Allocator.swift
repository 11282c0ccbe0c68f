import CJemalloc

/// The process's memory allocator. This executable links jemalloc, which replaces glibc's
/// `malloc` and `free` for everything in the process (Swift's runtime, SwiftNIO, our code): on
/// the 2-core VM a durable PUT at 64 connections took 2–4 µs less server CPU (BENCHMARKS.md,
/// server section), much of glibc's cost being frees on another thread than the allocation's
/// (a write's completion runs on the syncer) and the consolidation of its fast bins.
enum Allocator {
    /// "jemalloc 5.3.0-…", for the log at start.
    static var name: String {
        var version: UnsafePointer<CChar>?
        var size = MemoryLayout<UnsafePointer<CChar>?>.size
        guard mallctl("version", &version, &size, nil, 0) == 0, let version else { return "jemalloc" }
        return "jemalloc " + String(cString: version)
    }
}
