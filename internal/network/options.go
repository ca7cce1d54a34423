package network

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/berth-project/berth/internal/errdefs"
)

// Bridge driver options (network create -o), as dockerd's bridge driver
// names them.
const (
	optBridgeName  = "com.docker.network.bridge.name"
	optICC         = "com.docker.network.bridge.enable_icc"
	optMasquerade  = "com.docker.network.bridge.enable_ip_masquerade"
	optHostBinding = "com.docker.network.bridge.host_binding_ipv4"
	optMTU         = "com.docker.network.driver.mtu"
	optDefault     = "com.docker.network.bridge.default_bridge"
	optEnableIPv6  = "com.docker.network.enable_ipv6"
)

// bridgeOptions are the driver options that change what a bridge network
// does. Parsed from the network's Options each time (records written by
// older daemons carry only the map).
type bridgeOptions struct {
	ICC         bool       // containers on the bridge reach each other
	Masquerade  bool       // outbound traffic is masqueraded
	HostBinding netip.Addr // default host address of published ports
	MTU         int        // 0: the kernel's default (1500)
}

// parseBridgeOptions validates the options dockerd's bridge driver parses,
// with its error text ("failed to parse <key> value: <v> (<reason>)").
// Unknown keys are kept and ignored, as dockerd does.
func parseBridgeOptions(opts map[string]string) (bridgeOptions, error) {
	o := bridgeOptions{ICC: true, Masquerade: true}
	bad := func(k, v string, err error) error {
		return errdefs.Invalidf("failed to parse %s value: %s (%v)", k, v, err)
	}
	for k, v := range opts {
		var err error
		switch k {
		case optICC:
			o.ICC, err = strconv.ParseBool(v)
		case optMasquerade:
			o.Masquerade, err = strconv.ParseBool(v)
		case optDefault, optEnableIPv6:
			_, err = strconv.ParseBool(v)
		case optMTU:
			o.MTU, err = strconv.Atoi(v)
		case optHostBinding:
			if o.HostBinding, err = netip.ParseAddr(v); err != nil {
				err = fmt.Errorf("nil ip")
			}
		}
		if err != nil {
			return o, bad(k, v, err)
		}
	}
	return o, nil
}
