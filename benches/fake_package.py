"""A package of fake function zips for benchmarks (the emulator never runs code):
`.sls-rs/<fn>.zip` per function and the `.sls-rs/package.json` that
`sls-rs deploy --package` reads."""
import hashlib
import io
import json
import pathlib
import zipfile


def write(service_dir, service, contents):
    """`contents` maps each function to the text of its fake `bootstrap`."""
    pkg = pathlib.Path(service_dir) / ".sls-rs"
    pkg.mkdir(parents=True, exist_ok=True)
    funcs = {}
    for name, text in contents.items():
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            info = zipfile.ZipInfo("bootstrap", (1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o100755 << 16
            z.writestr(info, text)
        data = buf.getvalue()
        (pkg / f"{name}.zip").write_bytes(data)
        funcs[name] = {"handler": name, "architecture": "x86_64", "path": f".sls-rs/{name}.zip",
                       "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                       "binarySha256": "", "binarySize": 0}
    (pkg / "package.json").write_text(json.dumps({"service": service, "functions": funcs}))
