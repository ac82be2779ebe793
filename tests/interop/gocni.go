// gocni: a minimal cnitool on the Go reference libcni, for pynet's interop tests.
//
//	gocni add|check|del CONF_DIR NETWORK CONTAINER_ID NETNS IFNAME
//
// CNI_PATH (colon-separated) and CNI_CACHE_DIR say where the plugins and the result cache are;
// CNI_ARGS ("K=V;K=V") and CAP_ARGS (a JSON object) are passed on as libcni's RuntimeConf.
// Built offline from Debian's golang-github-appc-cni-dev:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o gocni gocni.go
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

func main() {
	if len(os.Args) != 7 {
		fmt.Fprintln(os.Stderr, "usage: gocni add|check|del CONF_DIR NETWORK CONTAINER_ID NETNS IFNAME")
		os.Exit(2)
	}
	command, confDir, network := os.Args[1], os.Args[2], os.Args[3]
	rt := &libcni.RuntimeConf{ContainerID: os.Args[4], NetNS: os.Args[5], IfName: os.Args[6]}
	for _, pair := range strings.Split(os.Getenv("CNI_ARGS"), ";") {
		if kv := strings.SplitN(pair, "=", 2); len(kv) == 2 {
			rt.Args = append(rt.Args, [2]string{kv[0], kv[1]})
		}
	}
	if caps := os.Getenv("CAP_ARGS"); caps != "" {
		if err := json.Unmarshal([]byte(caps), &rt.CapabilityArgs); err != nil {
			fail(fmt.Errorf("CAP_ARGS: %w", err))
		}
	}
	list, err := libcni.LoadConfList(confDir, network)
	if err != nil {
		fail(err)
	}
	cni := libcni.NewCNIConfigWithCacheDir(strings.Split(os.Getenv("CNI_PATH"), ":"), os.Getenv("CNI_CACHE_DIR"), nil)
	ctx := context.Background()
	switch command {
	case "add":
		result, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			fail(err)
		}
		if err := result.Print(); err != nil {
			fail(err)
		}
	case "check":
		err = cni.CheckNetworkList(ctx, list, rt)
	case "del":
		err = cni.DelNetworkList(ctx, list, rt)
	default:
		err = fmt.Errorf("unknown command %q", command)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gocni:", err)
	os.Exit(1)
}
