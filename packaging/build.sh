#!/usr/bin/env bash
# packaging/build.sh: builds cloudhsm-mfa's .deb and .rpm into target/ from one staged tree:
# the programs in /usr/bin, their man pages and the overview page cloudhsm-mfa(7), bash/zsh/fish
# completions and the systemd
# user units, each where Debian/Ubuntu or Amazon Linux/RHEL/Fedora look for it. Installs the
# packaging tools it lacks (dpkg-deb, dpkg-shlibdeps, rpmbuild) unless --no-install.
#
#   packaging/build.sh                  release build, both packages, into target/
#   packaging/build.sh --debug          the dev profile (faster; what the test uses)
#   options: --no-build (use the binaries already built)  --bin-dir DIR (take them from DIR)
#            --no-install (skip a package whose tool is missing, saying why)  --deb-only
#            --rpm-only  --out DIR
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
profile=release
build=yes
install_tools=yes
formats="deb rpm"
out=$target
bindir=

while [ $# -gt 0 ]; do
  case $1 in
    --debug) profile=debug ;;
    --no-build) build=no ;;
    --bin-dir) bindir=$2; build=no; shift ;;
    --no-install) install_tools=no ;;
    --deb-only) formats=deb ;;
    --rpm-only) formats=rpm ;;
    --out) out=$2; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "build.sh: error: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

name=cloudhsm-mfa
programs="mfa-agent mfa-add mfa-login mfa-sign mfa-doctor"
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$root/Cargo.toml")
summary="Hands-free AWS CloudHSM token-sign MFA logins with the key kept in an agent"
maintainer="cloudhsm-mfa developers <cloudhsm-mfa@example.invalid>"
[ -n "$version" ] || { echo "build.sh: error: no version in Cargo.toml" >&2; exit 1; }

# Installs the packages named after a tool that is missing; returns 1 if it stays missing.
need() {
  local tool=$1 deb=$2 rpm=$3
  command -v "$tool" >/dev/null && return 0
  [ "$install_tools" = yes ] || return 1
  local sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "build.sh: installing $tool" >&2
  if command -v apt-get >/dev/null; then
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null \
      || { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null; }
  elif command -v dnf >/dev/null; then
    $sudo dnf install -y -q "$rpm"
  elif command -v yum >/dev/null; then
    $sudo yum install -y -q "$rpm"
  fi
  command -v "$tool" >/dev/null
}

if [ "$build" = yes ]; then
  flags=(--release)
  [ "$profile" = debug ] && flags=()
  (cd "$root" && cargo build --locked "${flags[@]}" -p cloudhsm-mfa-agent -p cloudhsm-mfa-wrapper --bins)
fi
bindir=${bindir:-$target/$profile}
for p in $programs; do
  [ -x "$bindir/$p" ] || { echo "build.sh: error: $bindir/$p is not built (drop --no-build)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# stage DIR ZSH_DIR: the installed tree under DIR; zsh's folder differs between the families.
stage() {
  local dir=$1 zsh=$2 p
  install -d "$dir/usr/bin" "$dir/usr/share/man/man1" "$dir/usr/share/man/man7" \
    "$dir/usr/share/bash-completion/completions" \
    "$dir/$zsh" "$dir/usr/share/fish/vendor_completions.d" "$dir/usr/lib/systemd/user" \
    "$dir/usr/share/doc/$name"
  for p in $programs; do
    install -m 0755 "$bindir/$p" "$dir/usr/bin/$p"
    # Debug symbols make a dev build ten times larger; packages ship stripped programs.
    if command -v strip >/dev/null; then strip --strip-unneeded "$dir/usr/bin/$p"; fi
    gzip -9n <"$root/packaging/man/$p.1" >"$dir/usr/share/man/man1/$p.1.gz"
    install -m 0644 "$root/packaging/completions/bash/$p" "$dir/usr/share/bash-completion/completions/$p"
    install -m 0644 "$root/packaging/completions/zsh/_$p" "$dir/$zsh/_$p"
    install -m 0644 "$root/packaging/completions/fish/$p.fish" "$dir/usr/share/fish/vendor_completions.d/$p.fish"
  done
  gzip -9n <"$root/packaging/man/cloudhsm-mfa.7" >"$dir/usr/share/man/man7/cloudhsm-mfa.7.gz"
  chmod 0644 "$dir"/usr/share/man/man1/* "$dir"/usr/share/man/man7/*
  # The units in agent/contrib run a cargo-installed agent; a package's is in /usr/bin.
  sed 's|%h/.cargo/bin/mfa-agent|/usr/bin/mfa-agent|' "$root/agent/contrib/mfa-agent.service" \
    >"$dir/usr/lib/systemd/user/mfa-agent.service"
  grep -q '^ExecStart=/usr/bin/mfa-agent ' "$dir/usr/lib/systemd/user/mfa-agent.service" \
    || { echo "build.sh: error: the service's ExecStart was not rewritten" >&2; exit 1; }
  install -m 0644 "$root/agent/contrib/mfa-agent.socket" "$dir/usr/lib/systemd/user/mfa-agent.socket"
  chmod 0644 "$dir/usr/lib/systemd/user/mfa-agent.service"
  # The documentation keeps the source's layout, so the READMEs' relative links work here.
  local doc=$dir/usr/share/doc/$name
  install -d "$doc/agent" "$doc/wrapper" "$doc/docs"
  install -m 0644 "$root/README.md" "$doc/README.md"
  install -m 0644 "$root/agent/README.md" "$doc/agent/README.md"
  install -m 0644 "$root/wrapper/README.md" "$doc/wrapper/README.md"
  install -m 0644 "$root"/docs/*.md "$doc/docs/"
}

# The libraries the programs link (OpenSSL, libc), as Debian package names.
deb_depends() {
  local stage=$1 shl= p args=()
  for p in $programs; do args+=("-e$stage/usr/bin/$p"); done
  if need dpkg-shlibdeps dpkg-dev dpkg-dev; then
    mkdir -p "$work/shlibs/debian" && touch "$work/shlibs/debian/control"
    shl=$(cd "$work/shlibs" && dpkg-shlibdeps -O "${args[@]}" 2>/dev/null) || shl=
  fi
  shl=${shl#shlibs:Depends=}
  if [ -z "$shl" ]; then
    echo "build.sh: dpkg-shlibdeps is missing or failed: using a fixed Depends" >&2
    shl="libc6, libssl3 | libssl3t64"
  fi
  echo "$shl"
}

build_deb() {
  if ! need dpkg-deb dpkg dpkg; then
    echo "build.sh: skipped the .deb: dpkg-deb is not installed"
    return 0
  fi
  local arch dir=$work/deb deb
  arch=$(dpkg --print-architecture)
  stage "$dir" usr/share/zsh/vendor-completions
  install -d "$dir/DEBIAN"
  cat >"$dir/usr/share/doc/$name/copyright" <<EOF
$name is licensed under the Apache License, version 2.0.
On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
EOF
  cat >"$dir/DEBIAN/control" <<EOF
Package: $name
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$dir" | cut -f1)
Depends: $(deb_depends "$dir")
Suggests: openssh-client
Section: admin
Priority: optional
Description: $summary
 mfa-agent holds unlocked RSA keys in memory like ssh-agent; mfa-add loads them like
 ssh-add; mfa-login runs a CloudHSM CLI login in a PTY and answers its token-sign MFA
 prompt through the agent; mfa-sign signs any CloudHSM token file through the agent;
 mfa-doctor says whether a login would work and what to fix.
EOF
  deb=$out/${name}_${version}_${arch}.deb
  # xz for a release; a dev build is packed fast (it is for tests).
  local z=(-Zxz)
  [ "$profile" = debug ] && z=(-Zgzip -z1)
  dpkg-deb --root-owner-group "${z[@]}" --build "$dir" "$deb" >/dev/null
  echo "built $deb"
}

build_rpm() {
  if ! need rpmbuild rpm rpm-build; then
    echo "build.sh: skipped the .rpm: rpmbuild is not installed"
    return 0
  fi
  local arch dir=$work/rpm top=$work/rpmbuild files docdirs
  arch=$(uname -m)
  stage "$dir" usr/share/zsh/site-functions
  files=$(cd "$dir" && find . -type f | sed 's|^\.||' | sort)
  # The package owns its documentation folders (the others belong to the system).
  docdirs=$(cd "$dir" && find "./usr/share/doc/$name" -type d | sed 's|^\.|%dir |' | sort)
  mkdir -p "$top/SPECS" "$top/RPMS"
  cat >"$top/SPECS/$name.spec" <<EOF
Name: $name
Version: $version
Release: 1
Summary: $summary
License: Apache-2.0
BuildArch: $arch
# The staged tree is already stripped and compressed; no debuginfo subpackage.
%global debug_package %{nil}
%global __os_install_post %{nil}
%global _build_id_links none

%description
mfa-agent holds unlocked RSA keys in memory like ssh-agent; mfa-add loads them like ssh-add;
mfa-login runs a CloudHSM CLI login in a PTY and answers its token-sign MFA prompt through
the agent; mfa-sign signs any CloudHSM token file through the agent; mfa-doctor says
whether a login would work and what to fix.

%install
cp -a "$dir/." "%{buildroot}/"

%files
$docdirs
$files
EOF
  local payload=w9.xzdio
  [ "$profile" = debug ] && payload=w1.gzdio
  rpmbuild --quiet -bb --define "_topdir $top" --define "_binary_payload $payload" \
    "$top/SPECS/$name.spec" >/dev/null
  cp "$top/RPMS/$arch/$name-$version-1.$arch.rpm" "$out/"
  echo "built $out/$name-$version-1.$arch.rpm"
}

for f in $formats; do "build_$f"; done
