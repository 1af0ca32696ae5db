#!/usr/bin/env bash
# A publisher's script, with curl only: sign up, create a project, upload its files, publish it as
# an app, ship a new version; then a second person finds it by search, installs it and reviews it.
# Usage: publish_with_curl.sh BASE_URL   (exits non-zero, saying why, when any step misbehaves)
set -euo pipefail
BASE=$1
step() { echo "== $*" >&2; }
fail() { echo "FAILED: $*" >&2; exit 1; }
# call METHOD PATH EXPECTED_STATUS [curl args…] → prints the body; fails on another status.
call() {
  local method=$1 path=$2 expected=$3; shift 3
  local out status
  out=$(curl -sS -X "$method" "$BASE$path" -w '\n%{http_code}' "$@")
  status=${out##*$'\n'}
  [ "$status" = "$expected" ] || fail "$method $path answered $status, expected $expected: ${out%$'\n'*}"
  printf '%s' "${out%$'\n'*}"
}
field() { python3 -c "import json,sys; v=json.load(sys.stdin); print(eval('v' + sys.argv[1]))" "$1"; }
json=(-H 'Content-Type: application/json')
suffix=$RANDOM$RANDOM

step "publisher signs up and makes a personal token for the script"
access=$(call POST /api/v1/auth/register 201 "${json[@]}" -d "{\"email\":\"pub$suffix@example.com\",\"password\":\"publisher password\",\"name\":\"Pub\"}" | field "['access_token']")
token=$(call POST /api/v1/tokens 201 "${json[@]}" -H "Authorization: Bearer $access" -d '{"name":"publish script"}' | field "['token']")
auth=(-H "Authorization: Bearer $token")

step "creates a project and uploads its files"
project=$(call POST /api/v1/projects 201 "${json[@]}" "${auth[@]}" -d '{"name":"Bakery site","description":"A landing page"}' | field "['id']")
call PUT "/api/v1/projects/$project/files/index.html" 201 "${auth[@]}" -H 'Content-Type: text/html' --data-binary '<h1>Bakery</h1>' >/dev/null
call PUT "/api/v1/projects/$project/files/css/site.css" 201 "${auth[@]}" -H 'Content-Type: text/css' --data-binary 'h1 { color: brown }' >/dev/null
call PUT "/api/v1/projects/$project/config" 200 "${json[@]}" "${auth[@]}" -d '{"model":"default","mcp_servers":[]}' >/dev/null

step "publishes it as a paid app, then ships version 1.1.0"
app=$(call POST /api/v1/apps 201 "${json[@]}" "${auth[@]}" -d "{\"project_id\":\"$project\",\"name\":\"Sourdough Landing $suffix\",\"description\":\"A landing page for bakeries\",\"category\":\"business\",\"tags\":[\"bakery\",\"landing\"],\"price_cents\":499,\"currency\":\"EUR\",\"version\":\"1.0.0\"}" | field "['id']")
call POST "/api/v1/apps/$app/versions" 201 "${json[@]}" "${auth[@]}" -d '{"version":"1.1.0","changelog":"brown headings"}' >/dev/null
detail=$(call GET "/api/v1/apps/$app" 200)
[ "$(printf '%s' "$detail" | field "['version']")" = "1.1.0" ] || fail "the new version is not shown: $detail"

step "a customer finds it by search, installs it twice (one download), and reviews it"
customer=$(call POST /api/v1/auth/register 201 "${json[@]}" -d "{\"email\":\"cust$suffix@example.com\",\"password\":\"customer password\",\"name\":\"Cust\"}" | field "['access_token']")
cauth=(-H "Authorization: Bearer $customer")
found=$(call GET "/api/v1/apps?q=sourdough" 200 | python3 -c 'import json,sys; print(" ".join(i["id"] for i in json.load(sys.stdin)["items"]))')
case "$found" in *"$app"*) ;; *) fail "search did not find the app: $found";; esac
installed=$(call POST "/api/v1/apps/$app/install" 201 "${cauth[@]}" | field "['project_id']")
again=$(call POST "/api/v1/apps/$app/install" 200 "${cauth[@]}" | field "['project_id']")
[ "$installed" = "$again" ] || fail "installing again made another project"
copied=$(call GET "/api/v1/projects/$installed/files/index.html" 200 "${cauth[@]}")
[ "$copied" = "<h1>Bakery</h1>" ] || fail "the installed project's files differ: $copied"
call PUT "/api/v1/apps/$app/reviews/mine" 201 "${json[@]}" "${cauth[@]}" -d '{"rating":5,"text":"Lovely"}' >/dev/null
call PUT "/api/v1/apps/$app/reviews/mine" 403 "${json[@]}" "${auth[@]}" -d '{"rating":5,"text":"mine is great"}' >/dev/null
stats=$(call GET "/api/v1/apps/$app" 200)
[ "$(printf '%s' "$stats" | field "['stats']['downloads']")" = "1" ] || fail "downloads should be 1: $stats"
[ "$(printf '%s' "$stats" | field "['stats']['review_count']")" = "1" ] || fail "review_count should be 1: $stats"

step "the publisher sees the revenue"
revenue=$(call GET /api/v1/publisher/stats 200 "${auth[@]}")
printf '%s' "$revenue" | grep -q '499' || fail "revenue of 499 EUR cents is not reported: $revenue"
