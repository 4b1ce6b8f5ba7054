#!/usr/bin/env bash
# Builds the NuGet package of the C# binding without the .NET SDK (`make nuget`):
#
#   target/nuget/Mml.VERSION.nupkg, a zip (Open Packaging Conventions) holding
#     Mml.nuspec                               id, version, authors, license expression, ...
#     [Content_Types].xml, _rels/.rels,        the package parts NuGet writes itself
#     package/services/metadata/core-properties/*.psmdcp
#     lib/netstandard2.0/Mml.dll, Mml.xml      the binding and its documentation
#     runtimes/linux-x64/native/libmml.so      the native library (stripped)
#     README.md
#
# Mml.dll is compiled by Mono's mcs (C# 7, the same sources as Mml.csproj's netstandard2.0
# build) against Mono's framework assemblies, since the netstandard reference assemblies come
# only with the .NET SDK; .NET (Core), .NET Framework 4.6.1+ and Mono all load it (its
# references to mscorlib resolve through their compatibility facades). Where the SDK is
# available, `dotnet pack bindings/csharp/Mml` gives the canonical build.
#
# Usage: bindings/csharp/pack.sh [OUTDIR]   (default target/nuget; after `make build`)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$repo/target/nuget}"
lib="$repo/target/release/libmml.so"
version="$("$repo/scripts/soname.sh" --version)"
id=Mml

binding="$(sed -n 's/.*BindingVersion = "\(.*\)";.*/\1/p' "$here/Mml/MmlLibrary.cs")"
[[ "$binding" == "$version" ]] ||
  { echo "pack.sh: MmlLibrary.BindingVersion is '$binding', Cargo.toml says $version" >&2; exit 1; }
"$repo/scripts/install-mono.sh"
[[ -f "$lib" ]] || { echo "pack.sh: $lib is missing; run \`make build\` first" >&2; exit 1; }
command -v zip >/dev/null || { echo "pack.sh: zip is not installed" >&2; exit 1; }

stage="$(mktemp -d "${TMPDIR:-/tmp}/mml-nuget.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib/netstandard2.0" "$stage/runtimes/linux-x64/native" "$stage/_rels" \
    "$stage/package/services/metadata/core-properties"

# Every source but the test runner's access to internals (InternalsVisibleToTests.cs).
sources=()
for f in "$here"/Mml/*.cs; do [[ "$(basename "$f")" == InternalsVisibleToTests.cs ]] || sources+=("$f"); done
mcs -nologo -target:library -unsafe -langversion:7 -warnaserror+ -optimize+ \
    -doc:"$stage/lib/netstandard2.0/Mml.xml" -out:"$stage/lib/netstandard2.0/Mml.dll" "${sources[@]}"
strip --strip-unneeded -o "$stage/runtimes/linux-x64/native/libmml.so" "$lib"
cp "$here/README.md" "$stage/README.md"

description="PyTorch-exact MultiMarginLoss (the multi-class margin, or hinge, loss of \
torch.nn.MultiMarginLoss), forward and backward, bit for bit like PyTorch 2.x on the CPU, in \
float and double, from the native mml library through P/Invoke. Ships the linux-x64 native library."
cat >"$stage/$id.nuspec" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>$id</id>
    <version>$version</version>
    <authors>the mml developers</authors>
    <license type="expression">MIT OR Apache-2.0</license>
    <licenseUrl>https://licenses.nuget.org/MIT%20OR%20Apache-2.0</licenseUrl>
    <requireLicenseAcceptance>false</requireLicenseAcceptance>
    <readme>README.md</readme>
    <description>$description</description>
    <tags>machine-learning loss hinge pytorch multimarginloss native</tags>
    <dependencies>
      <group targetFramework=".NETStandard2.0" />
    </dependencies>
  </metadata>
</package>
EOF

# The parts NuGet itself adds to every package: content types, the package relationships and
# the core properties (a name of its own choosing; here derived from the id and version).
props="$(printf '%s' "$id.$version" | md5sum | cut -c1-32).psmdcp"
cat >"$stage/[Content_Types].xml" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
  <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml" />
  <Default Extension="psmdcp" ContentType="application/vnd.openxmlformats-package.core-properties+xml" />
  <Default Extension="nuspec" ContentType="application/octet" />
  <Default Extension="dll" ContentType="application/octet" />
  <Default Extension="xml" ContentType="application/octet" />
  <Default Extension="so" ContentType="application/octet" />
  <Default Extension="md" ContentType="application/octet" />
</Types>
EOF
cat >"$stage/_rels/.rels" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
  <Relationship Type="http://schemas.microsoft.com/packaging/2010/07/manifest" Target="/$id.nuspec" Id="R$(printf '%s' "$id.nuspec" | md5sum | cut -c1-16)" />
  <Relationship Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="/package/services/metadata/core-properties/$props" Id="R$(printf '%s' "$props" | md5sum | cut -c1-16)" />
</Relationships>
EOF
cat >"$stage/package/services/metadata/core-properties/$props" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<coreProperties xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.openxmlformats.org/package/2006/metadata/core-properties">
  <dc:creator>the mml developers</dc:creator>
  <dc:description>$description</dc:description>
  <dc:identifier>$id</dc:identifier>
  <version>$version</version>
  <keywords>machine-learning loss hinge pytorch multimarginloss native</keywords>
  <lastModifiedBy>mml bindings/csharp/pack.sh</lastModifiedBy>
</coreProperties>
EOF

# A reproducible zip: fixed timestamps, no extra attributes, a fixed order.
mkdir -p "$out"
package="$out/$id.$version.nupkg"
rm -f "$package"
find "$stage" -exec touch -h -d '2000-01-01 00:00:00 UTC' {} +
(cd "$stage" && find . -type f | sed 's|^\./||' | LC_ALL=C sort | zip -q -X -D -nw "$package" -@)
echo "pack.sh: $package"
