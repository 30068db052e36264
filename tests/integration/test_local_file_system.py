"""The local file system Spark runs on (io.medallion.fs): Hadoop's semantics, no process starts."""
from __future__ import annotations

import os
import stat

import pytest
from py4j.protocol import Py4JJavaError

pytestmark = pytest.mark.integration


def _jvm(spark):
    return spark.sparkContext._jvm


def _hadoop_conf(spark):
    return spark.sparkContext._jsc.hadoopConfiguration()


def test_the_session_uses_medallions_local_file_system(spark):
    jvm = _jvm(spark)
    fs = jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI("file:///"), _hadoop_conf(spark))
    assert fs.getClass().getName() == "io.medallion.fs.NioLocalFileSystem"
    fc = jvm.org.apache.hadoop.fs.FileContext.getLocalFSFileContext(_hadoop_conf(spark))
    assert fc.getDefaultFileSystem().getClass().getName() == "io.medallion.fs.NioLocalFs"


def test_permissions_are_set_without_chmod(spark, tmp_path):
    jvm = _jvm(spark)
    target = tmp_path / "f.txt"
    target.write_text("x")
    fs = jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI("file:///"), _hadoop_conf(spark))
    fs.setPermission(jvm.org.apache.hadoop.fs.Path(str(target)), jvm.org.apache.hadoop.fs.permission.FsPermission(0o640))
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    with pytest.raises(Py4JJavaError, match="FileNotFoundException"):
        fs.setPermission(jvm.org.apache.hadoop.fs.Path(str(tmp_path / "missing")),
                         jvm.org.apache.hadoop.fs.permission.FsPermission(0o644))


def test_link_status_and_rename_keep_hadoops_semantics(spark, tmp_path):
    """What Delta's log store and Spark's checkpoints rely on: a rename never overwrites, a
    missing path is FileNotFound, and a symlink is still reported as one."""
    jvm = _jvm(spark)
    Path = jvm.org.apache.hadoop.fs.Path
    fc = jvm.org.apache.hadoop.fs.FileContext.getLocalFSFileContext(_hadoop_conf(spark))
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    os.symlink(tmp_path / "a", tmp_path / "link")

    assert not fc.getFileLinkStatus(Path(str(tmp_path / "a"))).isSymlink()
    assert fc.getFileLinkStatus(Path(str(tmp_path / "link"))).isSymlink()
    with pytest.raises(Py4JJavaError, match="FileNotFoundException"):
        fc.getFileLinkStatus(Path(str(tmp_path / "missing")))
    none = spark.sparkContext._gateway.new_array(jvm.org.apache.hadoop.fs.Options.Rename, 0)
    with pytest.raises(Py4JJavaError, match="FileAlreadyExists|already exists"):
        fc.rename(Path(str(tmp_path / "a")), Path(str(tmp_path / "b")), none)
    fc.rename(Path(str(tmp_path / "a")), Path(str(tmp_path / "c")), none)
    assert (tmp_path / "c").read_text() == "a" and not (tmp_path / "a").exists()
