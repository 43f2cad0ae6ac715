"""Every benchmark, on top of the runtime packages: ``finsent bench``, ``finsent alerts bench``, ``finsent dashboard bench``/``seed-bench``, backfill."""
