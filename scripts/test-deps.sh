#!/usr/bin/env bash
# Run before `bun test` (npm's pretest): the cluster tests need GNU parallel,
# an ssh server and client, and rsync, the codec tests bzip2 and xz, and the
# HTML report's tests a real Chromium (driven by playwright-core), all Debian
# packages. Installs them
# when missing and this is root with apt-get; otherwise says what to install.
set -u
missing=()
command -v parallel >/dev/null 2>&1 || missing+=(parallel)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
command -v rsync >/dev/null 2>&1 || missing+=(rsync)
# bzip2 and xz make the compressed test inputs the engine reads
command -v bzip2 >/dev/null 2>&1 || missing+=(bzip2)
command -v xz >/dev/null 2>&1 || missing+=(xz-utils)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} (Debian packages) for the tests" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "the tests need these Debian packages: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
