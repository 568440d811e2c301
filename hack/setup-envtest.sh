#!/usr/bin/env bash
# Makes kube-apiserver, etcd and kubectl for ENVTEST_K8S_VERSION available and prints the
# directory to use as KUBEBUILDER_ASSETS (and nothing else on stdout).
#
# 1. If the binaries are already cached where setup-envtest keeps them, print that directory.
# 2. Otherwise try the standard setup-envtest download (the fast path when the internet is reachable).
# 3. Otherwise build all three from source through the Go module proxy and cache the result, so the
#    next run is instant. Progress goes to stderr.
set -euo pipefail

version="${ENVTEST_K8S_VERSION:-1.37.1}"
etcd_version="${ENVTEST_ETCD_VERSION:-v3.6.16}"
goos="$(go env GOOS)"
goarch="$(go env GOARCH)"
data_dir="${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest"
dest="$data_dir/k8s/$version-$goos-$goarch"

say() { printf 'envtest: %s\n' "$*" >&2; }

have_all() {
  [ -x "$1/kube-apiserver" ] && [ -x "$1/etcd" ] && [ -x "$1/kubectl" ]
}

if have_all "$dest"; then
  echo "$dest"
  exit 0
fi

if [ "${ENVTEST_SKIP_DOWNLOAD:-}" != "1" ]; then
  say "trying the standard setup-envtest download of Kubernetes $version"
  if dir=$(timeout 120 go run sigs.k8s.io/controller-runtime/tools/setup-envtest@v0.25.1 \
      use "$version" --bin-dir "$data_dir" -p path 2>/dev/null) && have_all "$dir"; then
    echo "$dir"
    exit 0
  fi
  say "download unavailable; building kube-apiserver, kubectl and etcd from source (several minutes, once)"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/k8s" "$work/etcd" "$work/bin"

# kube-apiserver and kubectl: k8s.io/kubernetes replaces its staging modules with local paths, so a
# throwaway module requires it and points every staging module at the matching published v0.x.y.
staging_version="v0.${version#1.}"
(
  cd "$work/k8s"
  go mod init envtest-build/k8s >/dev/null 2>&1
  go mod edit -require="k8s.io/kubernetes@v$version"
  gomod="$(go mod download -json "k8s.io/kubernetes@v$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$gomod" | sort -u |
    while read -r mod; do
      go mod edit -replace="$mod=$mod@$staging_version"
    done
  say "resolving k8s.io/kubernetes v$version dependencies"
  go get "k8s.io/kubernetes/cmd/kube-apiserver@v$version" "k8s.io/kubernetes/cmd/kubectl@v$version" >/dev/null 2>&1
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$version \
    -X k8s.io/component-base/version.gitMajor=${version%%.*} \
    -X k8s.io/component-base/version.gitMinor=$(echo "$version" | cut -d. -f2) \
    -X k8s.io/client-go/pkg/version.gitVersion=v$version"
  say "building kube-apiserver and kubectl v$version"
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$work/bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
)

(
  cd "$work/etcd"
  go mod init envtest-build/etcd >/dev/null 2>&1
  say "building etcd $etcd_version"
  go get "go.etcd.io/etcd/server/v3@$etcd_version" >/dev/null 2>&1
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/bin/etcd" go.etcd.io/etcd/server/v3
)

mkdir -p "$dest"
for b in kube-apiserver kubectl etcd; do
  install -m 0755 "$work/bin/$b" "$dest/$b"
done
say "cached in $dest"
echo "$dest"
