#!/usr/bin/env bats
# scripts/lint.mjs: the policies for Compose users (docs/policies.md), command
# line behaviour (docs/architecture.md, command line).

load helpers

setup() {
  common_setup
}

# A stacks directory holding shop.yaml, valid but violating two mandatory
# rules in prod (an image on latest, a restart policy of "no") and two advisories
# (unencrypted production backups; dev and prod under one project name).
write_violating_stack() {
  mkdir -p "$BATS_TEST_TMPDIR/stacks"
  cat >"$BATS_TEST_TMPDIR/stacks/shop.yaml" <<'YAML'
app: shop
volumes:
  data: {}
services:
  web:
    image: shop/web:latest
    restart: "no"
    mounts: [data:/data]
    statePaths: [/data]
environments:
  dev: {}
  prod:
    hostRoot: /srv/shop
    volumeBacking: host
YAML
  echo "$BATS_TEST_TMPDIR/stacks"
}

@test "lint.mjs --help exits 0 and prints the usage" {
  run --separate-stderr npx zx scripts/lint.mjs --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"Usage: npx zx scripts/lint.mjs [--stack <app>-<env>]"* ]]
  [[ "$output" == *"docs/policies.md"* ]]
}

@test "lint.mjs passes the shipped stacks (exit 0) and prints their advisories" {
  run --separate-stderr npx zx scripts/lint.mjs
  [ "$status" -eq 0 ]
  [[ "$output" == *"ADVISORY  environments-apart  stack pim-dev"* ]]
  [[ "$output" == *"ADVISORY  backups-encrypted  stack pim-prod"* ]]
  [[ "$output" == *"ADVISORY  prod-volume-host-root  volume digidig_app_logs"* ]]
  [[ "$output" == *"policies: passed (7 advisory violation(s) to consider)"* ]]
}

@test "lint.mjs exits 3 on a mandatory violation, naming rule, severity, object and fix" {
  stacks="$(write_violating_stack)"
  run --separate-stderr npx zx scripts/lint.mjs --stacks-dir "$stacks"
  [ "$status" -eq 3 ]
  [[ "$output" == *"MANDATORY image-pinned  image shop/web:latest"* ]]
  [[ "$output" == *"MANDATORY restart-policy  container shop-web"* ]]
  [[ "$output" == *"fix: set services.web.restart to unless-stopped"* ]]
  [[ "$output" == *"ADVISORY  backups-encrypted  stack shop-prod"* ]]
  [[ "$output" == *"mandatory violation(s)"* ]]
}

@test "lint.mjs --stack shop-dev checks one environment: the dev image may float" {
  stacks="$(write_violating_stack)"
  run --separate-stderr npx zx scripts/lint.mjs --stacks-dir "$stacks" --stack shop-dev
  [ "$status" -eq 3 ]
  [[ "$output" != *"image-pinned"* ]]
  [[ "$output" == *"MANDATORY restart-policy  container shop-web"* ]]
}

@test "lint.mjs --json prints one document with every violation" {
  stacks="$(write_violating_stack)"
  run --separate-stderr npx zx scripts/lint.mjs --stacks-dir "$stacks" --stack shop-prod --json
  [ "$status" -eq 3 ]
  run jq -e '.passed == false and .mandatory == 2 and .advisory == 2
    and ([.stacks[0].violations[].rule] == ["image-pinned", "restart-policy", "backups-encrypted", "environments-apart"])
    and (.stacks[0].violations[0].fix | length > 0)' <<<"$output"
  [ "$status" -eq 0 ]
}

@test "lint.mjs with an invalid stack file exits 2 naming file:line:column" {
  stacks="$(write_broken_stack)"
  run --separate-stderr npx zx scripts/lint.mjs --stacks-dir "$stacks"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"$stacks/shop.yaml:7:5: services.web.mountz: unknown key \"mountz\""* ]]
}

@test "lint.mjs with an unknown stack exits 2" {
  run --separate-stderr npx zx scripts/lint.mjs --stack nosuch-prod
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"--stack nosuch-prod: no stack file for it"* ]]
}
