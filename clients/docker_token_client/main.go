// Command docker-token-client drives a registry's token endpoint with the docker daemon's own code, so that
// identity (refresh) tokens can be proven against what `docker login/pull/push` really send, without a docker
// engine on the machine.
//
//	docker-token-client login --registry 127.0.0.1:31500 --username U   (password on stdin; prints the identity token)
//	docker-token-client pull  --registry 127.0.0.1:31500 --repo team-a/app --tag v1   (identity token on stdin)
//	docker-token-client push  --registry 127.0.0.1:31500 --repo team-a/app --tag v1   (identity token on stdin)
//
// login is moby's registry.Service.Auth (github.com/docker/docker v28.5.2 registry/service.go), what the daemon
// runs for POST /auth: loginV2 (registry/auth.go) pings /v2/, then GETs the challenge's realm with HTTP Basic and
// offline_token=true&client_id=docker; a refresh_token in the answer comes back as the identity token. moby tries
// https://HOST first and, since 127.0.0.0/8 is insecure by default (registry/config.go loadInsecureRegistries),
// then http://HOST.
//
// pull and push rebuild moby's distribution/registry.go newRepository (unexported there) with the same parts:
// registry.NewStaticCredentialStore over an AuthConfig holding only the identity token (Basic() is "", "",
// RefreshToken() is the token), an auth.NewTokenHandlerWithOptions with ClientID "docker" and one repository
// scope ("pull", or "push,pull" as push_v2.go asks), which POSTs grant_type=refresh_token to the realm, and
// github.com/docker/distribution's registry client on top. Differences from the daemon: plain http://HOST is
// used directly (the daemon tries https first, then falls back to http for an insecure registry), no otelhttp
// wrapper (it only adds a traceparent header), and a fixed User-Agent.
//
// Exit status: 0 on success, 1 on any failure (the error, with the server's text, on stderr), 2 on bad usage,
// 3 when login succeeded but the token server returned no refresh token ("no identity token").
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/containerd/log"
	"github.com/distribution/reference"
	"github.com/docker/distribution"
	"github.com/docker/distribution/manifest/ocischema"
	"github.com/docker/distribution/manifest/schema2"
	"github.com/docker/distribution/registry/client"
	"github.com/docker/distribution/registry/client/auth"
	"github.com/docker/distribution/registry/client/transport"
	registrytypes "github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// userAgent stands in for dockerversion.DockerUserAgent (which would pull in the daemon's version package).
const userAgent = "docker/28.5.2 os/linux UpstreamClient(docker-token-client)"

// imageManifestTypes are the Accept types of a pull: the two single-image manifest formats.
var imageManifestTypes = []string{ocispec.MediaTypeImageManifest, schema2.MediaTypeManifest}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	command := os.Args[1]
	flags := flag.NewFlagSet(command, flag.ExitOnError)
	address := flags.String("registry", "", "registry host:port (plain HTTP)")
	username := flags.String("username", "", "login: the user name (the password is read from stdin)")
	repo := flags.String("repo", "", "pull/push: repository path, e.g. team-a/app")
	tag := flags.String("tag", "", "pull/push: tag")
	debug := flags.Bool("debug", false, "log moby's debug messages and every HTTP request (method, URL, status)")
	_ = flags.Parse(os.Args[2:])
	if *address == "" || flags.NArg() != 0 {
		usage()
	}
	level := "warn"
	if *debug {
		level = "debug"
	}
	_ = log.SetLevel(level)
	secret, err := readStdin()
	if err != nil {
		fail(err)
	}
	ctx := context.Background()

	switch command {
	case "login":
		if *username == "" {
			usage()
		}
		token, err := login(ctx, *address, *username, secret)
		if err != nil {
			fail(err)
		}
		if token == "" {
			fmt.Fprintln(os.Stderr, "no identity token")
			os.Exit(3)
		}
		fmt.Println(token)
	case "pull", "push":
		if *repo == "" || *tag == "" {
			usage()
		}
		if secret == "" {
			fail(fmt.Errorf("no identity token on stdin"))
		}
		actions := []string{"pull"}
		if command == "push" {
			actions = []string{"push", "pull"} // moby distribution/push_v2.go
		}
		repository, err := newRepository(*address, *repo, secret, *debug, actions...)
		if err != nil {
			fail(err)
		}
		var dgst digest.Digest
		if command == "pull" {
			dgst, err = pull(ctx, repository, *tag)
		} else {
			dgst, err = push(ctx, repository, *tag)
		}
		if err != nil {
			fail(err)
		}
		fmt.Println(dgst)
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: docker-token-client login --registry HOST:PORT --username U   (password on stdin)\n"+
		"       docker-token-client pull|push --registry HOST:PORT --repo REPO --tag TAG   (identity token on stdin)\n"+
		"       add --debug to log every request")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "docker-token-client: %v\n", err)
	os.Exit(1)
}

// readStdin returns stdin without its trailing newline (a password or identity token).
func readStdin() (string, error) {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		return "", fmt.Errorf("reading stdin: %w", err)
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

// login is `docker login`'s daemon side: POST /auth -> registry.Service.Auth with the default service options.
func login(ctx context.Context, address, username, password string) (string, error) {
	service, err := registry.NewService(registry.ServiceOptions{})
	if err != nil {
		return "", err
	}
	_, token, err := service.Auth(ctx, &registrytypes.AuthConfig{
		Username: username, Password: password, ServerAddress: address,
	}, userAgent)
	if err != nil {
		return "", fmt.Errorf("login to %s: %w", address, err)
	}
	return token, nil
}

// tracer logs each request the registry client makes (method, URL, status; never headers or bodies).
type tracer struct{ next http.RoundTripper }

func (t tracer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "http: %s %s -> %v\n", req.Method, req.URL, err)
	} else {
		fmt.Fprintf(os.Stderr, "http: %s %s -> %s\n", req.Method, req.URL, resp.Status)
	}
	return resp, err
}

// newRepository is moby distribution/registry.go newRepository with an identity-token-only AuthConfig.
func newRepository(address, repo, identityToken string, trace bool, actions ...string) (distribution.Repository, error) {
	direct := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	var base http.RoundTripper = &http.Transport{
		Proxy: http.ProxyFromEnvironment, DialContext: direct.DialContext,
		TLSHandshakeTimeout: 10 * time.Second, DisableKeepAlives: true,
	}
	if trace {
		base = tracer{base}
	}
	endpoint := &url.URL{Scheme: "http", Host: address}
	modifiers := registry.Headers(userAgent, nil)
	authTransport := transport.NewTransport(base, modifiers...)

	challengeManager, err := registry.PingV2Registry(endpoint, authTransport)
	if err != nil {
		return nil, fmt.Errorf("ping %s/v2/: %w", endpoint, err)
	}
	creds := registry.NewStaticCredentialStore(&registrytypes.AuthConfig{IdentityToken: identityToken})
	tokenHandler := auth.NewTokenHandlerWithOptions(auth.TokenHandlerOptions{
		Transport:   authTransport,
		Credentials: creds,
		Scopes:      []auth.Scope{auth.RepositoryScope{Repository: repo, Actions: actions}},
		ClientID:    registry.AuthClientID,
	})
	modifiers = append(modifiers, auth.NewAuthorizer(challengeManager, tokenHandler, auth.NewBasicHandler(creds)))

	named, err := reference.WithName(repo)
	if err != nil {
		return nil, err
	}
	return client.NewRepository(named, endpoint.String(), transport.NewTransport(base, modifiers...))
}

// pull fetches TAG's manifest and every blob it references, checking each digest; returns the manifest digest.
func pull(ctx context.Context, repository distribution.Repository, tag string) (digest.Digest, error) {
	manifests, err := repository.Manifests(ctx)
	if err != nil {
		return "", err
	}
	var served digest.Digest
	m, err := manifests.Get(ctx, "", distribution.WithTag(tag),
		distribution.WithManifestMediaTypes(imageManifestTypes), client.ReturnContentDigest(&served))
	if err != nil {
		return "", fmt.Errorf("manifest %s: %w", tag, err)
	}
	mediaType, payload, err := m.Payload()
	if err != nil {
		return "", err
	}
	if mediaType != ocispec.MediaTypeImageManifest && mediaType != schema2.MediaTypeManifest {
		return "", fmt.Errorf("manifest %s: media type %q is not an image manifest", tag, mediaType)
	}
	dgst := digest.FromBytes(payload)
	if served != "" && served != dgst {
		return "", fmt.Errorf("manifest %s: Docker-Content-Digest %s, content %s", tag, served, dgst)
	}
	blobs := repository.Blobs(ctx)
	for _, desc := range m.References() {
		if err := fetchBlob(ctx, blobs, desc); err != nil {
			return "", err
		}
	}
	return dgst, nil
}

func fetchBlob(ctx context.Context, blobs distribution.BlobStore, desc distribution.Descriptor) error {
	reader, err := blobs.Open(ctx, desc.Digest)
	if err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	defer reader.Close()
	verifier := desc.Digest.Verifier()
	n, err := io.Copy(verifier, reader)
	if err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	if n != desc.Size || !verifier.Verified() {
		return fmt.Errorf("blob %s: %d bytes that do not match the manifest's digest and size %d", desc.Digest, n,
			desc.Size)
	}
	return nil
}

// push uploads a one-file random layer and its image config, then an OCI image manifest under TAG.
func push(ctx context.Context, repository distribution.Repository, tag string) (digest.Digest, error) {
	layer, diffID, err := randomLayer()
	if err != nil {
		return "", err
	}
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "config": map[string]any{},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []digest.Digest{diffID}},
		"history": []map[string]string{{"created_by": "docker-token-client push"}},
	})
	if err != nil {
		return "", err
	}
	blobs := repository.Blobs(ctx)
	layerDesc, err := blobs.Put(ctx, ocispec.MediaTypeImageLayerGzip, layer)
	if err != nil {
		return "", fmt.Errorf("layer upload: %w", err)
	}
	configDesc, err := blobs.Put(ctx, ocispec.MediaTypeImageConfig, config)
	if err != nil {
		return "", fmt.Errorf("config upload: %w", err)
	}
	// The statter's HEAD answer may carry another media type: the manifest names what was pushed.
	layerDesc = distribution.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: layerDesc.Digest,
		Size: int64(len(layer))}
	configDesc = distribution.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: configDesc.Digest,
		Size: int64(len(config))}
	m, err := ocischema.FromStruct(ocischema.Manifest{Versioned: ocischema.SchemaVersion, Config: configDesc,
		Layers: []distribution.Descriptor{layerDesc}})
	if err != nil {
		return "", err
	}
	_, payload, err := m.Payload()
	if err != nil {
		return "", err
	}
	manifests, err := repository.Manifests(ctx)
	if err != nil {
		return "", err
	}
	served, err := manifests.Put(ctx, m, distribution.WithTag(tag))
	if err != nil {
		return "", fmt.Errorf("manifest %s: %w", tag, err)
	}
	if dgst := digest.FromBytes(payload); served != dgst {
		return "", fmt.Errorf("manifest %s: registry answered digest %s, content %s", tag, served, dgst)
	}
	return served, nil
}

// randomLayer is a gzip tar of one file of random bytes, and its diff ID (the digest of the tar).
func randomLayer() ([]byte, digest.Digest, error) {
	content := make([]byte, 1024)
	if _, err := rand.Read(content); err != nil {
		return nil, "", err
	}
	var archive bytes.Buffer
	tw := tar.NewWriter(&archive)
	if err := tw.WriteHeader(&tar.Header{Name: "random", Mode: 0o644, Size: int64(len(content)),
		ModTime: time.Unix(0, 0)}); err != nil {
		return nil, "", err
	}
	if _, err := tw.Write(content); err != nil {
		return nil, "", err
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	var compressed bytes.Buffer
	zw := gzip.NewWriter(&compressed)
	if _, err := zw.Write(archive.Bytes()); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return compressed.Bytes(), digest.FromBytes(archive.Bytes()), nil
}
