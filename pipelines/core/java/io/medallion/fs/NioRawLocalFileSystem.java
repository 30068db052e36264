package io.medallion.fs;

import java.io.File;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Set;

import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsAction;
import org.apache.hadoop.fs.permission.FsPermission;

/**
 * Hadoop's local file system with the two calls it otherwise answers by starting a process.
 *
 * <p>Without Hadoop's native library (pyspark ships none), {@code RawLocalFileSystem} runs
 * {@code chmod} for every file it creates and {@code readlink} for every link-status lookup
 * (FileContext's rename, which Delta's log store and Spark's streaming checkpoints use for every
 * commit). A streaming micro-batch starts dozens of such processes, each a fork of the driver's
 * JVM. Here both are answered with java.nio in the JVM; everything else, symlinks included, is
 * Hadoop's own code.
 */
public class NioRawLocalFileSystem extends RawLocalFileSystem {

  @Override
  public void setPermission(Path p, FsPermission permission) throws IOException {
    File file = pathToFile(p);
    if (!file.exists()) {  // Hadoop's chmod fails too (an IOException naming the path)
      throw new FileNotFoundException("File " + p + " does not exist");
    }
    Files.setPosixFilePermissions(file.toPath(), posix(permission));
  }

  @Override
  public FileStatus getFileLinkStatus(Path f) throws IOException {
    File file = pathToFile(f);
    if (Files.isSymbolicLink(file.toPath())) {
      return super.getFileLinkStatus(f);  // a link: Hadoop resolves it as it always did
    }
    return getFileStatus(f);  // not a link: its own status (FileNotFoundException when absent)
  }

  static Set<PosixFilePermission> posix(FsPermission permission) {
    Set<PosixFilePermission> set = EnumSet.noneOf(PosixFilePermission.class);
    add(set, permission.getUserAction(), PosixFilePermission.OWNER_READ,
        PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE);
    add(set, permission.getGroupAction(), PosixFilePermission.GROUP_READ,
        PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE);
    add(set, permission.getOtherAction(), PosixFilePermission.OTHERS_READ,
        PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);
    return set;
  }

  private static void add(Set<PosixFilePermission> set, FsAction action, PosixFilePermission read,
                          PosixFilePermission write, PosixFilePermission execute) {
    if (action.implies(FsAction.READ)) set.add(read);
    if (action.implies(FsAction.WRITE)) set.add(write);
    if (action.implies(FsAction.EXECUTE)) set.add(execute);
  }
}
