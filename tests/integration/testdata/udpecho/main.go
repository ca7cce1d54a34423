// Command udpecho answers every UDP datagram on :9999 with "echo:" and the
// datagram: busybox has no UDP server, and published udp ports need one.
package main

import (
	"log"
	"net"
)

func main() {
	c, err := net.ListenPacket("udp", ":9999")
	if err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 2048)
	for {
		n, addr, err := c.ReadFrom(buf)
		if err != nil {
			log.Fatal(err)
		}
		c.WriteTo(append([]byte("echo:"), buf[:n]...), addr)
	}
}
