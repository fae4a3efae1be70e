"""The benchmarks behind ``python -m lenet bench``: speed and memory numbers measured against a
baseline in the same run, printed as JSON. They start servers and browsers, so they live here,
beside the package, and run from a checkout; the core never imports them."""
