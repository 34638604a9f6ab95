#!/usr/bin/env bats
# --engine URL on the command line (docs/remote-engines.md): every script that
# talks to an engine takes it, a bad address is bad usage, a relative bind
# cannot go to another host, and --dry-run and --json say which engine.

load helpers

# Scripts that talk to no engine.
NO_ENGINE=(compose lint)

setup() {
  common_setup
  unset DOCKER_HOST DOCKER_CONTEXT
}

# A valid stack: pim-like, one volume bound to ./data (relative to the checkout).
write_local_stack() {
  mkdir -p "$BATS_TEST_TMPDIR/stacks"
  cat >"$BATS_TEST_TMPDIR/stacks/shop.yaml" <<YAML
app: shop-$BATS_SUITE_TEST_NUMBER-$$
helper: { image: stowage-test/busybox:1 }
volumes:
  data: {}
  files: {}
services:
  web:
    image: stowage-test/busybox:1
    mounts: [data:/data, files:/files]
environments:
  dev:
    volumes:
      files: { bind: ./files }
  prod: {}
YAML
  echo "$BATS_TEST_TMPDIR/stacks"
}

help_lists_engine() { # NAME
  run --separate-stderr node "scripts/$1.mjs" --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"    --engine URL "* ]]
}

for script in "$BATS_TEST_DIRNAME"/../../scripts/*.mjs; do
  name="$(basename "$script" .mjs)"
  [[ " ${NO_ENGINE[*]} " == *" $name "* ]] && continue
  bats_test_function --description "$name.mjs --help lists --engine" -- help_lists_engine "$name"
done

@test "an address that is no engine address is bad usage (exit 2), before anything runs" {
  stacks="$(write_local_stack)"
  run --separate-stderr node scripts/backup.mjs --stack shop-prod --stacks-dir "$stacks" --engine mail.example.org
  [ "$status" -eq 2 ]
  [[ "$stderr" == *'--engine mail.example.org: "mail.example.org" is not an engine address; write ssh://user@host[:port], tcp://host:port or unix:///path/to/docker.sock'* ]]
}

@test "--engine to another host for an environment with a ./relative bind: exit 2 at the bind's file:line:column" {
  stacks="$(write_local_stack)"
  run --separate-stderr node scripts/fix-permissions.mjs --stack shop-dev --stacks-dir "$stacks" --engine ssh://deploy@shop.example.org --json
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"$stacks/shop.yaml:13:22: environments.dev.volumes.files.bind: bind \"./files\" is relative to this checkout, but environment \"dev\" runs on ssh://deploy@shop.example.org (--engine ssh://deploy@shop.example.org)"* ]]
  [[ "$stderr" == *"or leave out --engine ssh://deploy@shop.example.org"* ]]
  run jq -e '.error.kind == "invalid-stack-file"' <<<"$output"
  [ "$status" -eq 0 ]
}

@test "--dry-run starts with the engine and the lines that reach it when pasted" {
  stacks="$(write_local_stack)"
  run --separate-stderr node scripts/fix-permissions.mjs --stack shop-prod --stacks-dir "$stacks" --engine unix:///var/run/docker.sock --dry-run
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "# engine: unix:///var/run/docker.sock (--engine)" ]
  [ "${lines[1]}" = "unset DOCKER_CONTEXT" ]
  [ "${lines[2]}" = "export DOCKER_HOST=unix:///var/run/docker.sock" ]
}

@test "--json names the engine: from the shell's DOCKER_HOST, then from --engine" {
  stacks="$(write_local_stack)"
  run --separate-stderr env DOCKER_HOST=unix:///var/run/docker.sock node scripts/fix-permissions.mjs --stack shop-prod --stacks-dir "$stacks" --check --json
  [ "$status" -eq 0 ]
  run jq -e '.engine == {"url": "unix:///var/run/docker.sock", "source": "DOCKER_HOST", "origin": "DOCKER_HOST", "context": null, "local": true, "transport": "docker", "transportNote": null}' <<<"$output"
  [ "$status" -eq 0 ]
  run --separate-stderr node scripts/drift.mjs --stack shop-prod --stacks-dir "$stacks" --engine unix:///var/run/docker.sock --json
  run jq -e '.engine.source == "flag" and .engine.url == "unix:///var/run/docker.sock"' <<<"$output"
  [ "$status" -eq 0 ]
}

@test "an engine that does not answer is named in the error" {
  stacks="$(write_local_stack)"
  run --separate-stderr node scripts/backup.mjs --stack shop-prod --stacks-dir "$stacks" --engine unix:///nonexistent/docker.sock --to "$BATS_TEST_TMPDIR/backups"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"cannot reach the Docker engine unix:///nonexistent/docker.sock (--engine)"* ]]
}

@test "backup.mjs --all with --volume or --stack is bad usage (exit 2), before any engine is asked" {
  stacks="$(write_local_stack)"
  run --separate-stderr node scripts/backup.mjs --all --stacks-dir "$stacks" --volume data
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"--volume selects inside one stack: back that stack up with --stack, or leave --volume out"* ]]
  run --separate-stderr node scripts/backup.mjs --all --stack shop-dev --stacks-dir "$stacks"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"--stack and --all exclude each other"* ]]
}
