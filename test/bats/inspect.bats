#!/usr/bin/env bats
# scripts/inspect.mjs: command line behaviour (docs/architecture.md, command line).
# The test stack's volume never exists: nothing here creates engine resources.

load helpers

setup() {
  common_setup
}

write_test_stack() {
  mkdir -p "$BATS_TEST_TMPDIR/stacks"
  cat >"$BATS_TEST_TMPDIR/stacks/inbats.yaml" <<YAML
app: inbats
helper:
  image: stowage-test/busybox:1
volumes:
  data: { owner: "1000:1000", mode: "0750" }
services:
  app:
    image: stowage-test/busybox:1
    mounts: [data:/data]
environments:
  dev:
    project: inbats-$$-$BATS_TEST_NUMBER
YAML
  echo "$BATS_TEST_TMPDIR/stacks"
}

@test "inspect.mjs --help exits 0 and prints the usage" {
  run --separate-stderr npx zx scripts/inspect.mjs --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"Usage: npx zx scripts/inspect.mjs --stack <app>-<env> --volume V [info | ls [PATH] | cat PATH] [--json]"* ]]
}

@test "inspect.mjs with an unknown flag exits 2" {
  run --separate-stderr npx zx scripts/inspect.mjs --stack pim-dev --follow-links
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"Unknown option '--follow-links'"* ]]
}

@test "inspect.mjs with an invalid stack file exits 2 naming file:line:column" {
  stacks="$(write_broken_stack)"
  run --separate-stderr npx zx scripts/inspect.mjs --stacks-dir "$stacks" --stack shop-dev --volume data
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"$stacks/shop.yaml:7:5: services.web.mountz: unknown key \"mountz\""* ]]
}

@test "inspect.mjs --json info prints one JSON document, also for a volume that does not exist" {
  stacks="$(write_test_stack)"
  run --separate-stderr npx zx scripts/inspect.mjs --stacks-dir "$stacks" --stack inbats-dev --json
  [ "$status" -eq 0 ]
  run jq -e '.volume == "data" and .kind == "named" and .exists == false and .declared.owner == "1000:1000" and .containers == []' <<<"$output"
  [ "$status" -eq 0 ]
  run docker volume ls -q --filter "name=inbats-$$-$BATS_TEST_NUMBER"
  [ "$output" = "" ]
}

@test "inspect.mjs ls of a volume that does not exist exits 1 saying so" {
  stacks="$(write_test_stack)"
  run --separate-stderr npx zx scripts/inspect.mjs --stacks-dir "$stacks" --stack inbats-dev ls
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"does not exist on the engine"* ]]
}

@test "inspect.mjs refuses a path with .. with exit 2" {
  stacks="$(write_test_stack)"
  run --separate-stderr npx zx scripts/inspect.mjs --stacks-dir "$stacks" --stack inbats-dev cat ../../etc/shadow
  [ "$status" -eq 2 ]
  [[ "$stderr" == *'without a leading / or ".." segments'* ]]
}

@test "inspect.mjs cat without a path exits 2" {
  stacks="$(write_test_stack)"
  run --separate-stderr npx zx scripts/inspect.mjs --stacks-dir "$stacks" --stack inbats-dev cat
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"cat needs a PATH"* ]]
}

@test "inspect.mjs --json with bad usage prints one JSON error document" {
  stacks="$(write_test_stack)"
  run --separate-stderr npx zx scripts/inspect.mjs --stacks-dir "$stacks" --stack inbats-dev ls /etc --json
  [ "$status" -eq 2 ]
  run jq -e '.error.kind == "usage"' <<<"$output"
  [ "$status" -eq 0 ]
}
