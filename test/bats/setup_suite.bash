# Runs once before the bats suite (bats finds it next to the .bats files). The
# CLI tests deploy containers from the local busybox test image: build it when
# this machine never did (once; later runs reuse it), or fail here with
# build.sh's reason and what to do, before any test runs.
setup_suite() {
  bash "$(dirname "${BASH_SOURCE[0]}")/../images/build.sh" busybox
}
