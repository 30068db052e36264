package io.medallion.serving;

/**
 * What a caller may do. Thrift users get the role the server's policy gives their account
 * (every user is an analyst when the server runs without authentication: names are unverified
 * then); callers outside a Thrift operation (the server's own Python, `medallion sql`) get the
 * policy's local role.
 */
public enum Role {
    /** The process's own work: registering tables, writing the access log. */
    UNRESTRICTED,
    /** What dbt needs to build Gold: anything but a change to Bronze. */
    PIPELINE,
    /** Read-only statements (queries, SHOW, DESCRIBE, EXPLAIN), any table: `medallion sql`. */
    READER,
    /** Read-only statements on the tables analysts may see, never a `direct` personal column. */
    ANALYST;

    public static Role parse(String name) {
        return Role.valueOf(name.trim().toUpperCase(java.util.Locale.ROOT));
    }
}
