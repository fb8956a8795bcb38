"""`make bench`: how close the service is to the floor of a credentials request on Lambda.

Runs on this machine, with no cloud account: the six real handlers in this process against
embedded AWS (moto) in a process of its own (`aws`), side by side with bare boto3 handlers
(`bare`). Prints one markdown table and writes it, with the machine's description and the
date, between the markers of BENCHMARKS.md (docs/performance.md explains the method).

Every figure is a count taken at the AWS endpoint or a ratio of two things measured side by side
in the same run, never a fixed time. Goals are reported (Met? yes/no), never enforced: the
benchmark exits 0 whatever it finds; it exits non-zero only if the service answers wrongly.

Modules: `cli` (main: the phases in order), `stack` (the `Bench` state and its plumbing),
`events` (request events and handler calls), one module per measured phase (`cold_start`,
`calls`, `warm_cpu`, `growth`, `size`), `report` (machine, table, BENCHMARKS.md), `common`
(rows, samples, sizes, formatting), `aws` and `bare`. Not part of `make bench`: `keyring` (with
`keyring_*`), which measures the hierarchical keyring of a library outside the project's lock and
runs on its own (`python -m bench.keyring`, docs/performance.md).
"""
