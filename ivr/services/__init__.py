"""Application services: what the edges (the web app and the `rabta` command) ask for.

Each service is one function over the store (and the engine, where there is one) that both
edges call, so a transaction accepted, a status read or a figure shown means the same thing
whichever door it came in by. The edges parse requests and render answers; they never reach
into the engine's parts or the store's tables themselves.
"""
