#!/usr/bin/env bats
# scripts/clean-start.mjs: command line behaviour (docs/architecture.md, command line).

load helpers

setup() {
  common_setup
  APP="stwcsbats$RANDOM$RANDOM"
  write_one_volume_stack "$APP"
  STACK=(--stack "$APP-dev" --stacks-dir "$BATS_TEST_TMPDIR/stacks")
}

teardown() {
  docker volume rm --force "${APP}_data" >/dev/null 2>&1 || true
}

deploy_volume() {
  docker volume create --label "stowage.project=$APP" --label stowage.env=dev --label stowage.volume=data "${APP}_data" >/dev/null
}

@test "clean-start.mjs --help exits 0 and prints the usage" {
  run --separate-stderr npx zx scripts/clean-start.mjs --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"Usage: npx zx scripts/clean-start.mjs --stack <app>-<env> [--no-backup] [--to DIR] [--yes] [--dry-run] [--json]"* ]]
  [[ "$output" == *"Exit codes: "* ]]
}

@test "clean-start.mjs with an unknown flag exits 2" {
  run --separate-stderr npx zx scripts/clean-start.mjs "${STACK[@]}" --bogus
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"Unknown option '--bogus'"* ]]
}

@test "clean-start.mjs without --stack exits 2" {
  run --separate-stderr npx zx scripts/clean-start.mjs --yes
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"--stack is required"* ]]
}

@test "clean-start.mjs with an invalid stack file exits 2 naming file:line:column" {
  stacks="$(write_broken_stack)"
  run --separate-stderr npx zx scripts/clean-start.mjs --stack shop-dev --stacks-dir "$stacks" --yes
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"$stacks/shop.yaml:7:5: services.web.mountz: unknown key \"mountz\""* ]]
}

@test "clean-start.mjs without --yes and without a terminal exits 2 and removes nothing" {
  deploy_volume
  run --separate-stderr npx zx scripts/clean-start.mjs "${STACK[@]}" --no-backup </dev/null
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"refusing without a terminal to confirm; pass --yes"* ]]
  [ "$(docker volume ls -q --filter "name=^${APP}_data$")" = "${APP}_data" ]
}

@test "clean-start.mjs --dry-run --json prints one JSON document and removes nothing" {
  deploy_volume
  run --separate-stderr npx zx scripts/clean-start.mjs "${STACK[@]}" --no-backup --dry-run --json
  [ "$status" -eq 0 ]
  run jq -e --arg v "${APP}_data" '.dryRun == true and .wouldRemove.volumes == [$v]' <<<"$output"
  [ "$status" -eq 0 ]
  [ "$(docker volume ls -q --filter "name=^${APP}_data$")" = "${APP}_data" ]
}

@test "clean-start.mjs --yes --json removes the volume, and a second run removes nothing and exits 0" {
  deploy_volume
  run --separate-stderr npx zx scripts/clean-start.mjs "${STACK[@]}" --no-backup --yes --json
  [ "$status" -eq 0 ]
  run jq -e --arg v "${APP}_data" '.removed.volumes == [$v] and .backup == null' <<<"$output"
  [ "$status" -eq 0 ]
  [ -z "$(docker volume ls -q --filter "name=^${APP}_data$")" ]
  run --separate-stderr npx zx scripts/clean-start.mjs "${STACK[@]}" --no-backup --yes --json
  [ "$status" -eq 0 ]
  run jq -e '.removed == {"containers": [], "volumes": [], "directories": []}' <<<"$output"
  [ "$status" -eq 0 ]
}
