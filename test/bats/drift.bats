#!/usr/bin/env bats
# scripts/drift.mjs --compose: command line behaviour (docs/architecture.md, command line).

load helpers

setup() {
  common_setup
}

@test "drift.mjs --help exits 0 and prints the usage" {
  run --separate-stderr npx zx scripts/drift.mjs --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"Usage: npx zx scripts/drift.mjs --compose [--stack <app>-<env>] [--compose-dir DIR]"* ]]
  [[ "$output" == *"Exit codes: "*"3 a check found a problem"* ]]
}

@test "drift.mjs with an unknown flag exits 2" {
  run --separate-stderr npx zx scripts/drift.mjs --compose --bogus
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"Unknown option '--bogus'"* ]]
}

@test "drift.mjs without saying what to check exits 2" {
  run --separate-stderr npx zx scripts/drift.mjs
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"choose what to check: --compose"* ]]
}

@test "drift.mjs with an invalid stack file exits 2 naming file:line:column" {
  stacks="$(write_broken_stack)"
  run --separate-stderr npx zx scripts/drift.mjs --compose --stacks-dir "$stacks" --compose-dir "$BATS_TEST_TMPDIR/compose"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"$stacks/shop.yaml:7:5: services.web.mountz: unknown key \"mountz\""* ]]
}

@test "drift.mjs --compose exits 0 on the committed files" {
  run --separate-stderr npx zx scripts/drift.mjs --compose
  [ "$status" -eq 0 ]
  [[ "$output" == *"are current"* ]]
}

@test "drift.mjs --compose --json prints one JSON document saying the files are current" {
  run --separate-stderr npx zx scripts/drift.mjs --compose --json
  [ "$status" -eq 0 ]
  run jq -e '.compose.current == true and .compose.drift == []' <<<"$output"
  [ "$status" -eq 0 ]
}

@test "drift.mjs --compose exits 3 with a unified diff naming a changed file" {
  copy="$(copy_checkout)"
  sed -i 's/restart: unless-stopped/restart: always/' "$copy/compose/pim.yml"
  run --separate-stderr npx zx scripts/drift.mjs --compose --stacks-dir "$copy/stacks" --compose-dir "$copy/compose"
  [ "$status" -eq 3 ]
  [[ "$output" == *"pim.yml (committed)"* ]]
  [[ "$output" == *"pim.yml (rendered)"* ]]
  [[ "$output" == *$'\n-    restart: always\n+    restart: unless-stopped\n'* ]]
  [[ "$output" == *"run npx zx scripts/compose.mjs and commit the result"* ]]
}

@test "drift.mjs --compose --json on a changed copy lists the file as changed" {
  copy="$(copy_checkout)"
  echo "# edited by hand" >>"$copy/compose/digidig.prod.yml"
  run --separate-stderr npx zx scripts/drift.mjs --compose --stacks-dir "$copy/stacks" --compose-dir "$copy/compose" --json
  [ "$status" -eq 3 ]
  run jq -e '.compose.current == false and (.compose.drift | length) == 1 and .compose.drift[0].state == "changed" and (.compose.drift[0].file | endswith("digidig.prod.yml"))' <<<"$output"
  [ "$status" -eq 0 ]
}

@test "drift.mjs --compose exits 3 when a file no stack renders is left behind" {
  copy="$(copy_checkout)"
  cp "$copy/compose/pim.yml" "$copy/compose/oldapp.yml"
  run --separate-stderr npx zx scripts/drift.mjs --compose --stacks-dir "$copy/stacks" --compose-dir "$copy/compose"
  [ "$status" -eq 3 ]
  [[ "$output" == *"oldapp.yml: no stack file renders it any more; delete it"* ]]
}
