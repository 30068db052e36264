package io.medallion.serving;

/** A statement refused by the access guard; the message starts with the error code. */
public final class AccessDenied extends RuntimeException {
    private final String code;

    public AccessDenied(String code, String detail) {
        super("[" + code + "] " + detail);
        this.code = code;
    }

    public String code() {
        return code;
    }
}
