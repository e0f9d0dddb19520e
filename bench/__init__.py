"""Benchmarks of the edge node against its physical limit; they write docs/benchmarks.md.

One command per figure (each accepts `--quick` for a tiny smoke run and `--doc -` to print
without touching the document):

    .venv/bin/python -m bench.inference      # 1. raw session.run, both models, 1 and 2 threads
    .venv/bin/python -m bench.efficiency     # 2. whole pipeline / raw inference, plus a profile
    .venv/bin/python -m bench.capacity       # 3. cameras per node, with and without motion gate
    .venv/bin/python -m bench.lift_latency   # 4. e-bike visible -> PUBACK from Mosquitto
    .venv/bin/python -m bench.replay_speed   # 5. `edge replay` video seconds per wall second
    .venv/bin/python -m bench.delivery       # 6. outbox backlog drain and sustained puts
    .venv/bin/python -m bench.memory         # 7. node RSS with 1, 4 and 8 cameras
    .venv/bin/python -m bench                # all of the above, in that order

They are not tests: the normal test command runs only `tests/integration/test_bench_smoke.py`,
which runs each of them with `--quick` so they cannot rot.
"""
