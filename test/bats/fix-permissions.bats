#!/usr/bin/env bats
# scripts/fix-permissions.mjs: command line behaviour (docs/architecture.md, command line).
# Nothing here creates engine resources: the test stack's volume never exists
# and its host root is a missing directory under $BATS_TEST_TMPDIR.

load helpers

setup() {
  common_setup
}

# A stack whose dev volume does not exist on the engine and whose prod volume
# is host-backed under a host root that does not exist yet.
write_test_stack() {
  mkdir -p "$BATS_TEST_TMPDIR/stacks"
  cat >"$BATS_TEST_TMPDIR/stacks/fpbats.yaml" <<YAML
app: fpbats
helper:
  image: stowage-test/busybox:1
volumes:
  data:
    owner: "1000:1000"
    mode: "0750"
    files:
      - { path: secrets.env, mode: "0600", secret: true }
services:
  app:
    image: stowage-test/busybox:1
    mounts: [data:/data]
environments:
  dev:
    project: fpbats-$$-$BATS_TEST_NUMBER
  prod:
    project: fpbats-$$-$BATS_TEST_NUMBER-prod
    hostRoot: $BATS_TEST_TMPDIR/srv/fpbats
    volumeBacking: host
YAML
  echo "$BATS_TEST_TMPDIR/stacks"
}

@test "fix-permissions.mjs --help exits 0 and prints the usage" {
  run --separate-stderr npx zx scripts/fix-permissions.mjs --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"Usage: npx zx scripts/fix-permissions.mjs --stack <app>-<env> [--volume V]... [--check] [--dry-run] [--json]"* ]]
  [[ "$output" == *"--check"*"exit 3"* ]]
}

@test "fix-permissions.mjs with an unknown flag exits 2" {
  run --separate-stderr npx zx scripts/fix-permissions.mjs --stack pim-dev --chmod-everything
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"Unknown option '--chmod-everything'"* ]]
}

@test "fix-permissions.mjs without --stack exits 2" {
  run --separate-stderr npx zx scripts/fix-permissions.mjs
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"--stack is required"* ]]
}

@test "fix-permissions.mjs with an invalid stack file exits 2 naming file:line:column" {
  stacks="$(write_broken_stack)"
  run --separate-stderr npx zx scripts/fix-permissions.mjs --stacks-dir "$stacks" --stack shop-dev
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"$stacks/shop.yaml:7:5: services.web.mountz: unknown key \"mountz\""* ]]
}

@test "fix-permissions.mjs --json on an invalid stack prints one JSON error document" {
  stacks="$(write_broken_stack)"
  run --separate-stderr npx zx scripts/fix-permissions.mjs --stacks-dir "$stacks" --stack shop-dev --json
  [ "$status" -eq 2 ]
  run jq -e '.error.kind == "invalid-stack-file"' <<<"$output"
  [ "$status" -eq 0 ]
}

@test "fix-permissions.mjs --json prints one JSON document and creates no volume" {
  stacks="$(write_test_stack)"
  run --separate-stderr npx zx scripts/fix-permissions.mjs --stacks-dir "$stacks" --stack fpbats-dev --json
  [ "$status" -eq 0 ]
  run jq -e '.applied == true and .differences == 0 and .volumes[0].volume == "data" and (.volumes[0].note | test("does not exist yet"))' <<<"$output"
  [ "$status" -eq 0 ]
  run docker volume ls -q --filter "name=fpbats-$$-$BATS_TEST_NUMBER"
  [ "$output" = "" ]
}

@test "fix-permissions.mjs --check exits 3 when a host directory is missing, and creates nothing" {
  stacks="$(write_test_stack)"
  run --separate-stderr npx zx scripts/fix-permissions.mjs --stacks-dir "$stacks" --stack fpbats-prod --check --json
  [ "$status" -eq 3 ]
  run jq -e --arg p "$BATS_TEST_TMPDIR/srv/fpbats/data" '.differences == 1 and .volumes[0].missingHostPath == $p' <<<"$output"
  [ "$status" -eq 0 ]
  [ ! -e "$BATS_TEST_TMPDIR/srv" ]
}

@test "fix-permissions.mjs --dry-run prints a pasteable docker command and creates nothing" {
  stacks="$(write_test_stack)"
  run --separate-stderr npx zx scripts/fix-permissions.mjs --stacks-dir "$stacks" --stack fpbats-prod --dry-run
  [ "$status" -eq 0 ]
  [[ "$output" == *"docker run --rm "*"--mount type=bind,source=$BATS_TEST_TMPDIR,target=/h "*" stowage srv/fpbats/data 1000:1000 750"* ]]
  [[ "$output" == *"would be created"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/srv" ]
}

@test "fix-permissions.mjs with an unknown volume exits 2" {
  stacks="$(write_test_stack)"
  run --separate-stderr npx zx scripts/fix-permissions.mjs --stacks-dir "$stacks" --stack fpbats-dev --volume nope
  [ "$status" -eq 2 ]
  [[ "$stderr" == *'has no volume "nope"; declared: data'* ]]
}
