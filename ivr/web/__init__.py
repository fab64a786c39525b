"""Web: the aiohttp app (metrics and health today; the officials' dashboard comes next)."""
