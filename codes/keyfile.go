package codes

import (
	"fmt"

	"filippo.io/age"

	"github.com/airlock-dev/airlock/formats/armor"
	"github.com/airlock-dev/airlock/formats/seal"
)

// keyArmorType is the armor type of an authority private key, inside its
// age encryption.
const keyArmorType = "AUTHORITY KEY"

// SealAuthorityKeyPassphrase returns the authority key file for k,
// encrypted with age to a passphrase (scrypt).
func SealAuthorityKeyPassphrase(k *AuthorityKey, passphrase string) ([]byte, error) {
	if passphrase == "" {
		return nil, fmt.Errorf("%w: empty passphrase", ErrInvalid)
	}
	return seal.EncryptPassphrase(armor.Encode(keyArmorType, k.MarshalPrivate()), passphrase)
}

// SealAuthorityKey returns the authority key file for k, encrypted with age
// to the recipients (age X25519 or ssh-ed25519 public keys).
func SealAuthorityKey(k *AuthorityKey, recipients ...age.Recipient) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, fmt.Errorf("%w: no recipient to encrypt the key to", ErrInvalid)
	}
	return seal.Encrypt(armor.Encode(keyArmorType, k.MarshalPrivate()), recipients...)
}

// OpenAuthorityKeyPassphrase decrypts an authority key file with a
// passphrase.
func OpenAuthorityKeyPassphrase(b []byte, passphrase string) (*AuthorityKey, error) {
	plain, err := seal.DecryptPassphrase(b, passphrase)
	if err != nil {
		return nil, err
	}
	return parseKeyArmor(plain)
}

// OpenAuthorityKey decrypts an authority key file with age or SSH
// identities.
func OpenAuthorityKey(b []byte, identities ...age.Identity) (*AuthorityKey, error) {
	plain, err := seal.Decrypt(b, identities...)
	if err != nil {
		return nil, err
	}
	return parseKeyArmor(plain)
}

func parseKeyArmor(plain []byte) (*AuthorityKey, error) {
	typ, data, err := armor.Decode(plain)
	if err != nil {
		return nil, &classified{ErrMalformed, fmt.Errorf("authority key file: %w", err)}
	}
	if typ != keyArmorType {
		return nil, fmt.Errorf("%w: file holds %q, not an authority key", ErrMalformed, "AIRLOCK "+typ)
	}
	return ParseAuthorityKey(data)
}

// ReadTrustFile reads a trust file in any form (armored, typed or binary)
// and opens it with OpenTrustFile.
func ReadTrustFile(b []byte) (*TrustSet, error) {
	code, err := DecodeKind(b, KindTrustUpdate)
	if err != nil {
		return nil, fmt.Errorf("trust file: %w", err)
	}
	return OpenTrustFile(code)
}
