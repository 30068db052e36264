"""The medallion jar: the project's Java classes, from every `java/` folder of its packages.

`pipelines/core/java`: the local file system without process starts (io.medallion.fs, see
spark_session); `pipelines/serving/java`: the Java half of `medallion serve` and `medallion sql`'s
guard. Compiled with the JDK's `javac` (Java 17) against the jars of the installed pyspark, at
install (`make install` runs `python -m pipelines.core.jar`) and again whenever the sources or
pyspark change; the jar is cached in the environment (`<venv>/share/medallion/`), never in the
repository. Plain `javac` and a zip: no build tool to download.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from pipelines.core.errors import PipelineError

_PACKAGES = Path(__file__).resolve().parent.parent
SOURCE_ROOTS = (_PACKAGES / "core" / "java", _PACKAGES / "serving" / "java")
JAVA_RELEASE = 17


def _pyspark_jars() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def _digest() -> str:
    import pyspark

    h = hashlib.sha256(pyspark.__version__.encode())
    for path in _sources():
        h.update(path.relative_to(_PACKAGES).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _sources() -> list[Path]:
    return sorted(p for root in SOURCE_ROOTS for p in root.rglob("*.java"))


def cache_dir() -> Path:
    custom = os.environ.get("MEDALLION_JAR_DIR")
    return Path(custom) if custom else Path(sys.prefix) / "share" / "medallion"


def jar_path() -> Path:
    return cache_dir() / f"medallion-{_digest()}.jar"


def javac() -> str:
    """The JDK 17+ compiler: $JAVA_HOME's when set (the JVM Spark runs on), else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    candidates = [str(Path(home) / "bin" / "javac")] if home else []
    candidates.append(shutil.which("javac") or "")
    for path in candidates:
        if path and Path(path).is_file():
            out = subprocess.run([path, "-version"], capture_output=True, text=True, check=False)
            match = re.search(r"javac (\d+)", out.stdout + out.stderr)
            if match and int(match.group(1)) >= JAVA_RELEASE:
                return path
    raise PipelineError("SERVE_JDK_MISSING", {"detail": "no javac 17+ in $JAVA_HOME/bin or on PATH"})


def ensure_jar() -> Path:
    """The jar for the current sources and pyspark, compiled when missing."""
    target = jar_path()
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="medallion-javac-") as tmp:
        classes = Path(tmp) / "classes"
        sources = [str(p) for p in _sources()]
        result = subprocess.run(
            [javac(), "--release", str(JAVA_RELEASE), "-nowarn", "-encoding", "UTF-8",
             "-cp", str(_pyspark_jars() / "*"), "-d", str(classes), *sources],
            capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PipelineError("SERVE_JAR_BUILD_FAILED", {"detail": (result.stderr or result.stdout).strip()[-2000:]})
        partial = Path(tmp) / target.name
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as jar:
            jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: medallion\n")
            for path in sorted(classes.rglob("*.class")):
                jar.write(path, path.relative_to(classes).as_posix())
        os.replace(partial, target)  # atomic: a concurrent build never sees half a jar
    for old in target.parent.glob("medallion-" + "?" * 16 + ".jar"):  # this naming's older builds only
        if old != target:
            old.unlink(missing_ok=True)
    return target


if __name__ == "__main__":  # `make install`
    print(f"medallion: jar {ensure_jar()}")
