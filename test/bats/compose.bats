#!/usr/bin/env bats
# scripts/compose.mjs: command line behaviour (docs/architecture.md, command line).

load helpers

setup() {
  common_setup
}

@test "compose.mjs --help exits 0 and prints the usage and the exit codes" {
  run --separate-stderr npx zx scripts/compose.mjs --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"Usage: npx zx scripts/compose.mjs [--stack <app>-<env>] [--out DIR]"* ]]
  [[ "$output" == *"--stacks-dir DIR"* ]]
  [[ "$output" == *"Exit codes: 0 done; 1 the operation failed; 2 bad usage"* ]]
}

@test "compose.mjs with an unknown flag exits 2 and names the flag" {
  run --separate-stderr npx zx scripts/compose.mjs --bogus
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"Unknown option '--bogus'"* ]]
  [[ "$stderr" == *"--help"* ]]
}

@test "compose.mjs with an unexpected argument exits 2" {
  run --separate-stderr npx zx scripts/compose.mjs pim-dev
  [ "$status" -eq 2 ]
  [[ "$stderr" == *'unexpected argument "pim-dev"'* ]]
}

@test "compose.mjs with a stack that has no stack file exits 2" {
  run --separate-stderr npx zx scripts/compose.mjs --stack nosuchapp-dev --out "$BATS_TEST_TMPDIR/out"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"--stack nosuchapp-dev: no stack file"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/out" ]
}

@test "compose.mjs with an invalid stack file exits 2 naming file:line:column and the key" {
  stacks="$(write_broken_stack)"
  run --separate-stderr npx zx scripts/compose.mjs --stacks-dir "$stacks" --stack shop-dev --out "$BATS_TEST_TMPDIR/out"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"$stacks/shop.yaml:7:5: services.web.mountz: unknown key \"mountz\""* ]]
  [[ "$stderr" == *"fix: "* ]]
  [ ! -e "$BATS_TEST_TMPDIR/out" ]
}

@test "compose.mjs --json with an invalid stack file prints one JSON error document" {
  stacks="$(write_broken_stack)"
  run --separate-stderr npx zx scripts/compose.mjs --stacks-dir "$stacks" --stack shop-dev --out "$BATS_TEST_TMPDIR/out" --json
  [ "$status" -eq 2 ]
  run jq -e --arg file "$stacks/shop.yaml" \
    '.error.kind == "invalid-stack-file" and .error.issues[0].file == $file and .error.issues[0].position == {line: 7, column: 5} and .error.issues[0].keyPath == "services.web.mountz"' \
    <<<"$output"
  [ "$status" -eq 0 ]
}

@test "compose.mjs --out DIR exits 0 and writes every file of every stack" {
  run --separate-stderr npx zx scripts/compose.mjs --out "$BATS_TEST_TMPDIR/out"
  [ "$status" -eq 0 ]
  [[ "$output" == "wrote "* ]]
  run ls "$BATS_TEST_TMPDIR/out"
  [ "$output" == "$(printf '%s\n' digidig.dev.yml digidig.env.example digidig.prod.yml digidig.yml pim.dev.yml pim.prod.yml pim.yml)" ]
}

@test "compose.mjs --stack renders only that stack's files" {
  run --separate-stderr npx zx scripts/compose.mjs --stack pim-prod --out "$BATS_TEST_TMPDIR/out"
  [ "$status" -eq 0 ]
  run ls "$BATS_TEST_TMPDIR/out"
  [ "$output" == "$(printf '%s\n' pim.dev.yml pim.prod.yml pim.yml)" ]
}

@test "compose.mjs --json prints one JSON document listing what it wrote" {
  run --separate-stderr npx zx scripts/compose.mjs --out "$BATS_TEST_TMPDIR/out" --json
  [ "$status" -eq 0 ]
  run jq -e --arg out "$BATS_TEST_TMPDIR/out" '.out == $out and (.files | length) == 7 and (.written | length) == 7' <<<"$output"
  [ "$status" -eq 0 ]
}

@test "a second render writes nothing and leaves the files untouched" {
  npx zx scripts/compose.mjs --out "$BATS_TEST_TMPDIR/out" >/dev/null 2>&1
  before="$(stat -c '%n %Y %i' "$BATS_TEST_TMPDIR"/out/*)"
  run --separate-stderr npx zx scripts/compose.mjs --out "$BATS_TEST_TMPDIR/out" --json
  [ "$status" -eq 0 ]
  run jq -e '.written == []' <<<"$output"
  [ "$status" -eq 0 ]
  [ "$(stat -c '%n %Y %i' "$BATS_TEST_TMPDIR"/out/*)" == "$before" ]
}

@test "the rendered files are the committed ones" {
  run --separate-stderr npx zx scripts/compose.mjs --out "$BATS_TEST_TMPDIR/copy/compose" --stacks-dir "$(copy_checkout)/stacks"
  [ "$status" -eq 0 ]
  run diff -r compose "$BATS_TEST_TMPDIR/copy/compose"
  [ "$status" -eq 0 ]
}

@test "compose.mjs --check exits 0 when the committed files are current" {
  run npx zx scripts/compose.mjs --check
  [ "$status" -eq 0 ]
}

@test "compose.mjs --check exits 3 with a diff and writes nothing when a file is stale" {
  tmp="$(mktemp -d)"
  cp -r compose "$tmp/compose"
  echo "# edited by hand" >> "$tmp/compose/pim.yml"
  run npx zx scripts/compose.mjs --check --out "$tmp/compose"
  [ "$status" -eq 3 ]
  [[ "$output" == *"-# edited by hand"* ]]
  grep -q "# edited by hand" "$tmp/compose/pim.yml"
  rm -rf "$tmp"
}

@test "compose.mjs refuses a YAML alias bomb with exit 2 naming file:line:column of the alias" {
  mkdir -p "$BATS_TEST_TMPDIR/stacks"
  {
    echo 'app: bomb'
    echo 'x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'
    for i in 1 2 3 4 5 6 7 8; do
      p=$((i - 1))
      echo "x$i: &a$i [*a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p]"
    done
    echo 'volumes: {}'
    echo 'services: {}'
    echo 'environments: {dev: {}}'
  } >"$BATS_TEST_TMPDIR/stacks/bomb.yaml"
  run --separate-stderr npx zx scripts/compose.mjs --stacks-dir "$BATS_TEST_TMPDIR/stacks" --stack bomb-dev --out "$BATS_TEST_TMPDIR/out"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"$BATS_TEST_TMPDIR/stacks/bomb.yaml:8:10: x6[0]: alias *a5 expands the document beyond 1000000 values"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/out" ]
}

@test "compose.mjs refuses a stack file over 1 MiB with exit 2 naming where the limit is crossed" {
  mkdir -p "$BATS_TEST_TMPDIR/stacks"
  head -c 2000000 /dev/zero | tr '\0' '#' | fold -w 63 >"$BATS_TEST_TMPDIR/stacks/huge.yaml"
  run --separate-stderr npx zx scripts/compose.mjs --stacks-dir "$BATS_TEST_TMPDIR/stacks" --stack huge-dev --out "$BATS_TEST_TMPDIR/out"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"$BATS_TEST_TMPDIR/stacks/huge.yaml:16385:1: (document): the stack file is "*" bytes; a stack file may hold at most 1048576 bytes (1 MiB)"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/out" ]
}
