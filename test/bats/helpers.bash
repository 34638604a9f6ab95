# Shared setup for the CLI tests: run from the repository root, with a fresh
# temporary directory per test ($BATS_TEST_TMPDIR, removed by bats).

bats_require_minimum_version 1.5.0

REPO_ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"

common_setup() {
  cd "$REPO_ROOT"
  # Output is compared as text: no colours, no terminal.
  export NO_COLOR=1 FORCE_COLOR=0
  unset STOWAGE_STACKS_DIR
}

# A stacks directory holding one broken stack file, shop.yaml, whose line 7
# has an unknown key (a typo of "mounts") at column 5.
write_broken_stack() {
  mkdir -p "$BATS_TEST_TMPDIR/stacks"
  cat >"$BATS_TEST_TMPDIR/stacks/shop.yaml" <<'YAML'
app: shop
volumes:
  data: {}
services:
  web:
    image: shop/web:1
    mountz: [data:/data]
environments:
  dev: {}
YAML
  echo "$BATS_TEST_TMPDIR/stacks"
}

# A copy of stacks/ and the committed compose/ side by side, as in the checkout
# (bind paths are rendered relative to compose/). Never touches the repository.
copy_checkout() {
  mkdir -p "$BATS_TEST_TMPDIR/copy"
  cp -r stacks compose "$BATS_TEST_TMPDIR/copy/"
  echo "$BATS_TEST_TMPDIR/copy"
}

# Writes $BATS_TEST_TMPDIR/stacks/<app>.yaml: one volume `data` mounted by one
# busybox service, environment dev. Usage: write_one_volume_stack APP
write_one_volume_stack() {
  mkdir -p "$BATS_TEST_TMPDIR/stacks"
  cat >"$BATS_TEST_TMPDIR/stacks/$1.yaml" <<YAML
app: $1
helper: { image: stowage-test/busybox:1 }
volumes:
  data: {}
services:
  app:
    image: stowage-test/busybox:1
    mounts: [data:/data]
environments:
  dev: {}
YAML
}
