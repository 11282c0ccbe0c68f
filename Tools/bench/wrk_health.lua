-- wrk script: GET /health (no auth, no database): the HTTP stack's own ceiling on this machine.
-- Environment: WRK_COMMON (path of wrk_common.lua).
dofile(os.getenv("WRK_COMMON"))
