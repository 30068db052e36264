package io.medallion.serving;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.spec.InvalidKeySpecException;

import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
import javax.security.sasl.AuthenticationException;

import org.apache.hive.service.auth.PasswdAuthenticationProvider;
import org.apache.spark.SparkContext$;

/**
 * HiveServer2's CUSTOM authentication: user and password checked against the salted
 * PBKDF2-HMAC-SHA256 hashes of the serving policy. The JVM never holds the configured passwords
 * (the Python side hashes them and drops them from the environment before Spark starts), and a
 * refusal never says whether the user or the password was wrong, nor logs either.
 */
public final class PasswordAuthenticator implements PasswdAuthenticationProvider {
    private static final String REFUSED = "medallion: invalid user or password";

    @Override
    public void Authenticate(String user, String password) throws AuthenticationException {
        ServingPolicy policy = ServingPolicy.current(SparkContext$.MODULE$.getActive().getOrElse(() -> null));
        if (policy == null || user == null || password == null) {
            throw new AuthenticationException(REFUSED);
        }
        ServingPolicy.User u = policy.users.get(user);
        // an unknown user costs the same hash as a known one
        byte[] salt = u == null ? new byte[16] : u.salt;
        int iterations = u == null ? 100_000 : u.iterations;
        byte[] given = pbkdf2(password, salt, iterations);
        if (u == null || !MessageDigest.isEqual(given, u.hash)) {
            throw new AuthenticationException(REFUSED);
        }
    }

    static byte[] pbkdf2(String password, byte[] salt, int iterations) throws AuthenticationException {
        PBEKeySpec spec = new PBEKeySpec(password.toCharArray(), salt, iterations, 256);
        try {
            return SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(spec).getEncoded();
        } catch (NoSuchAlgorithmException | InvalidKeySpecException e) {
            throw new AuthenticationException("medallion: password hashing unavailable", e);
        } finally {
            spec.clearPassword();
        }
    }
}
