// notation-sign does what `notation sign` does, with the library the notation CLI is built on
// (github.com/notaryproject/notation-go): it signs an image in a registry with a local key and
// certificate chain, as a Notary Project signature (JWS or COSE envelope), and pushes the signature
// manifest the way notation does. The notation CLI module itself is not served by the Go module proxy
// the tests build from, so this small program calls the same library functions the CLI calls:
// signer.NewGenericSigner, registry.NewRepository and notation.Sign. A test tool; never shipped.
//
//	notation-sign --reference 127.0.0.1:5000/team/app@sha256:... --plain-http \
//	    --key leaf.key.pem --cert chain.pem [--signature-format jws|cose] [--expiry 24h] \
//	    [--user-metadata k=v ...] [--force-referrers-tag]
//
// On success it prints the signed manifest's digest. Errors go to stderr with exit status 1.
package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/notaryproject/notation-core-go/signature/cose"
	"github.com/notaryproject/notation-core-go/signature/jws"
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/registry"
	"github.com/notaryproject/notation-go/signer"
	"oras.land/oras-go/v2/registry/remote"
)

// metadata collects repeated --user-metadata key=value flags (notation's -m/--user-metadata).
type metadata map[string]string

func (m metadata) String() string { return fmt.Sprint(map[string]string(m)) }

func (m metadata) Set(value string) error {
	key, val, ok := strings.Cut(value, "=")
	if !ok || key == "" {
		return fmt.Errorf("%q is not key=value", value)
	}
	m[key] = val
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "notation-sign:", err)
		os.Exit(1)
	}
}

func run() error {
	reference := flag.String("reference", "", "the image to sign: registry/repository@sha256:<hex> (or :tag)")
	plainHTTP := flag.Bool("plain-http", false, "talk to the registry over plain HTTP (a loopback test registry)")
	keyPath := flag.String("key", "", "PEM private key of the signing certificate (PKCS#8, PKCS#1 or SEC 1)")
	certPath := flag.String("cert", "", "PEM certificate chain, leaf first (the root may be included)")
	format := flag.String("signature-format", "jws", "envelope format: jws or cose")
	expiry := flag.Duration("expiry", 0, "signature expiry after the signing time (e.g. 24h); 0: none")
	forceTag := flag.Bool("force-referrers-tag", false, "skip the referrers API; always use the tag schema")
	userMetadata := metadata{}
	flag.Var(userMetadata, "user-metadata", "key=value added to the signed payload (repeatable)")
	flag.Parse()
	if *reference == "" || *keyPath == "" || *certPath == "" {
		return errors.New("--reference, --key and --cert are required")
	}
	mediaType := map[string]string{"jws": jws.MediaTypeEnvelope, "cose": cose.MediaTypeEnvelope}[*format]
	if mediaType == "" {
		return fmt.Errorf("--signature-format %q is not jws or cose", *format)
	}

	// The signer: notation-go's generic signer over a local key and its certificate chain, as the
	// notation CLI builds it for a key added with `notation key add`.
	key, certs, err := loadKeyAndChain(*keyPath, *certPath)
	if err != nil {
		return err
	}
	sig, err := signer.NewGenericSigner(key, certs)
	if err != nil {
		return fmt.Errorf("signer: %w", err)
	}

	// The repository: oras-go's remote client wrapped by notation-go. oras-go pushes the signature
	// manifest (with its subject) and, when the registry answers without an OCI-Subject header (no
	// referrers API, e.g. distribution 2.8), updates the referrers tag sha256-<hex> itself: the
	// fallback notation relies on. --force-referrers-tag sets that capability up front.
	remoteRepo, err := remote.NewRepository(*reference)
	if err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	remoteRepo.PlainHTTP = *plainHTTP
	if *forceTag {
		if err := remoteRepo.SetReferrersCapability(false); err != nil {
			return err
		}
	}
	repo := registry.NewRepository(remoteRepo)

	opts := notation.SignOptions{
		SignerSignOptions: notation.SignerSignOptions{
			SignatureMediaType: mediaType,
			ExpiryDuration:     *expiry,
		},
		ArtifactReference: *reference,
		UserMetadata:      userMetadata,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	signed, err := notation.Sign(ctx, sig, repo, opts)
	if err != nil {
		return err
	}
	fmt.Println(signed.Digest)
	return nil
}

// loadKeyAndChain reads the PEM private key and the PEM chain (leaf first).
func loadKeyAndChain(keyPath, certPath string) (any, []*x509.Certificate, error) {
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, nil, fmt.Errorf("%s: no PEM block", keyPath)
	}
	var key any
	if key, err = x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if key, err = x509.ParseECPrivateKey(block.Bytes); err != nil {
			if key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
				return nil, nil, fmt.Errorf("%s: not a PKCS#8, SEC 1 or PKCS#1 private key", keyPath)
			}
		}
	}
	chainPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	var certs []*x509.Certificate
	for rest := chainPEM; ; {
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", certPath, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, nil, fmt.Errorf("%s: no certificate", certPath)
	}
	return key, certs, nil
}
