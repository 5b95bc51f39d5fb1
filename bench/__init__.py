"""Load benchmark for doe-bot: `python -m bench.run --flows 200 --concurrency 50` (see bench/README.md)."""
