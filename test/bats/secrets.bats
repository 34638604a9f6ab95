#!/usr/bin/env bats
# scripts/secrets.mjs: command line behaviour (docs/architecture.md, command line).
# Nothing here changes the engine: usage errors stop before it is touched, and
# --dry-run only asks read-only questions.

load helpers

setup() {
  common_setup
}

# A stack with one secret file rule on a named volume that does not exist.
write_secret_stack() {
  mkdir -p "$BATS_TEST_TMPDIR/stacks"
  cat >"$BATS_TEST_TMPDIR/stacks/vault.yaml" <<'YAML'
app: vault
helper: { image: stowage-test/busybox:1 }
volumes:
  data:
    files:
      - { path: secrets.env, mode: "0600", owner: "1000:1000", secret: true }
services:
  app:
    image: stowage-test/busybox:1
    mounts: [data:/data]
environments:
  dev: {}
YAML
  echo "$BATS_TEST_TMPDIR/stacks"
}

@test "secrets.mjs --help exits 0 and describes the subcommands" {
  run --separate-stderr npx zx scripts/secrets.mjs --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"Usage: npx zx scripts/secrets.mjs init|rotate|check --stack <app>-<env>"* ]]
  [[ "$output" == *"--force-encryption-key"* ]]
  [[ "$output" == *"rotating JWT_SECRET logs every user out"* ]]
  [[ "$output" == *"Exit codes: "*"3 a check found a problem"* ]]
}

@test "secrets.mjs with an unknown subcommand exits 2 naming the valid ones" {
  run --separate-stderr npx zx scripts/secrets.mjs destroy --stack pim-dev
  [ "$status" -eq 2 ]
  [[ "$stderr" == *'unknown subcommand "destroy"; expected one of init, rotate, check'* ]]
}

@test "secrets.mjs without a subcommand exits 2" {
  run --separate-stderr npx zx scripts/secrets.mjs --stack pim-dev
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"say what to do: init, rotate, check"* ]]
}

@test "secrets.mjs with an unknown flag exits 2" {
  run --separate-stderr npx zx scripts/secrets.mjs check --stack pim-dev --bogus
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"Unknown option '--bogus'"* ]]
}

@test "secrets.mjs rotate of an unknown key exits 2 before touching anything" {
  run --separate-stderr npx zx scripts/secrets.mjs rotate --stack pim-dev --key DB_PASSWORD --yes
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"--key DB_PASSWORD: unknown key; stowage manages JWT_SECRET, ENCRYPTION_KEY"* ]]
}

@test "secrets.mjs rotate of ENCRYPTION_KEY without --force-encryption-key exits 2 and explains" {
  run --separate-stderr npx zx scripts/secrets.mjs rotate --stack pim-dev --key ENCRYPTION_KEY --yes
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"refusing to rotate ENCRYPTION_KEY"*"unreadable"*"--force-encryption-key"* ]]
}

@test "secrets.mjs on a stack without a secret file exits 2 with one JSON error document" {
  stacks="$BATS_TEST_TMPDIR/stacks"
  mkdir -p "$stacks"
  cat >"$stacks/plain.yaml" <<'YAML'
app: plain
volumes:
  data: {}
services:
  web: { image: plain/web:1, mounts: [data:/data] }
environments:
  dev: {}
YAML
  run --separate-stderr npx zx scripts/secrets.mjs check --stack plain-dev --stacks-dir "$stacks" --json
  [ "$status" -eq 2 ]
  run jq -e '.error.kind == "usage" and (.error.message | contains("declares no secret file"))' <<<"$output"
  [ "$status" -eq 0 ]
}

@test "secrets.mjs init --dry-run --json prints the plan on stderr and one JSON document on stdout" {
  stacks="$(write_secret_stack)"
  run --separate-stderr npx zx scripts/secrets.mjs init --stack vault-dev --stacks-dir "$stacks" --dry-run --json
  [ "$status" -eq 0 ]
  [[ "$stderr" == *"docker cp --archive - vault-stowage-helper-XXXX:/data"* ]]
  run jq -e '.dryRun == true and .subcommand == "init" and .volume == "data" and .file == "secrets.env"' <<<"$output"
  [ "$status" -eq 0 ]
}
