/// Points in time as people and protocols write them: parsing user input (RFC 3339 such as
/// `2026-11-26T12:00:00.250Z` or `2026-11-26T13:00:00+01:00`, or integer epoch milliseconds) and
/// formatting UTC timestamps.
public enum EpochMillis {
    /// `2026-11-26T12:00:00.250Z`: RFC 3339, UTC, with milliseconds.
    public static func format(_ millis: UInt64) -> String {
        withFormatted(millis) { String(decoding: $0, as: UTF8.self) }
    }

    /// `format`'s text as bytes, handed to `body`: no `String` is made (it is in every write's
    /// answer).
    public static func withFormatted<R>(_ millis: UInt64, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let t = utc(seconds: Int64(millis / 1000))
        // Years past 9999 take more digits.
        let yearWidth = t.year > 9999 ? String(t.year).utf8.count : 4
        return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: yearWidth + 20) { out in
            var i = 0
            func digits(_ v: Int, _ width: Int, then separator: UInt8) {
                var v = v
                for k in stride(from: width - 1, through: 0, by: -1) {
                    out[i + k] = UInt8(ascii: "0") + UInt8(v % 10)
                    v /= 10
                }
                out[i + width] = separator
                i += width + 1
            }
            digits(t.year, yearWidth, then: UInt8(ascii: "-"))
            digits(t.month, 2, then: UInt8(ascii: "-"))
            digits(t.day, 2, then: UInt8(ascii: "T"))
            digits(t.hour, 2, then: UInt8(ascii: ":"))
            digits(t.minute, 2, then: UInt8(ascii: ":"))
            digits(t.second, 2, then: UInt8(ascii: "."))
            digits(Int(millis % 1000), 3, then: UInt8(ascii: "Z"))
            return try body(UnsafeBufferPointer(rebasing: out[..<i]))
        }
    }

    /// `20261126T120000Z`: ISO 8601 basic format, UTC, whole seconds (AWS's `x-amz-date`).
    public static func basicISO8601(seconds: Int64) -> String {
        let t = utc(seconds: seconds)
        return "\(pad(t.year, 4))\(pad(t.month, 2))\(pad(t.day, 2))T\(pad(t.hour, 2))\(pad(t.minute, 2))\(pad(t.second, 2))Z"
    }

    /// `Fri, 27 Nov 2026 08:00:00 GMT`: HTTP's IMF-fixdate (RFC 9110), for the `Date` header.
    public static func httpDate(seconds: Int64) -> String {
        let t = utc(seconds: seconds)
        let day = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][t.weekday]
        let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][t.month - 1]
        return "\(day), \(pad(t.day, 2)) \(month) \(pad(t.year, 4)) \(pad(t.hour, 2)):\(pad(t.minute, 2)):\(pad(t.second, 2)) GMT"
    }

    /// The calendar fields in UTC (`weekday`: 0 is Sunday), by arithmetic (libc's `gmtime_r`
    /// takes the time-zone lock; this is in every write's answer).
    private static func utc(seconds: Int64) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, weekday: Int) {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let inDay = Int(seconds - days * 86_400)
        let (year, month, day) = civilFromDays(days)
        let weekday = Int(((days + 4) % 7 + 7) % 7)  // 1970-01-01 was a Thursday
        return (Int(year), Int(month), Int(day), inDay / 3600, inDay / 60 % 60, inDay % 60, weekday)
    }

    private static func pad(_ v: Int, _ n: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, n - s.count)) + s
    }

    /// Milliseconds since the Unix epoch, or nil if `text` is neither an integer nor RFC 3339.
    /// Fractions finer than a millisecond are truncated.
    public static func parse(_ text: String) -> Int64? {
        if let millis = Int64(text) { return millis }
        return parseRFC3339(Array(text.utf8))
    }

    private static func parseRFC3339(_ b: [UInt8]) -> Int64? {
        var i = 0
        func digits(_ n: Int) -> Int64? {
            guard i + n <= b.count else { return nil }
            var v: Int64 = 0
            for k in 0..<n {
                let c = b[i + k]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
            }
            i += n
            return v
        }
        func expect(_ chars: String) -> Bool {
            guard i < b.count, chars.utf8.contains(b[i]) else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect("-"), let month = digits(2), expect("-"), let day = digits(2),
            expect("Tt "), let hour = digits(2), expect(":"), let minute = digits(2), expect(":"), let second = digits(2)
        else { return nil }
        var millis: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var n = 0
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                if n < 3 { millis = millis * 10 + Int64(b[i] - 48) }
                n += 1
                i += 1
            }
            guard n > 0 else { return nil }
            for _ in 0..<max(0, 3 - n) { millis *= 10 }
        }
        var offsetMinutes: Int64 = 0
        if expect("Zz") {
        } else if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let h = digits(2), expect(":"), let m = digits(2), h < 24, m < 60 else { return nil }
            offsetMinutes = sign * (h * 60 + m)
        } else {
            return nil
        }
        guard i == b.count, (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour < 24,
            minute < 60, second < 60
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60
        return seconds * 1000 + millis
    }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// The proleptic Gregorian date of a day since 1970-01-01 (H. Hinnant's algorithm, the
    /// inverse of `daysFromCivil`).
    private static func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
