package testutil

import "fmt"

// TutorialDockerfile is the swarm chapter's friendlyhello on the busybox
// fixture: httpd answering /cgi-bin/index with "Hello $NAME from
// $(hostname)", so a client sees which replica answered.
const TutorialDockerfile = "FROM busybox\nENV NAME World\nEXPOSE 80\n" +
	`CMD ["sh", "-c", "mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho Hello $NAME from $(hostname)\\n' > /www/cgi-bin/index && chmod +x /www/cgi-bin/index && exec httpd -f -p 80 -h /www"]` + "\n"

// TutorialCompose is the tutorial's docker-compose.yml for the image
// friendlyhello, with the NAME value and the replica count given.
func TutorialCompose(name string, replicas int) string {
	return fmt.Sprintf(`version: "3"
services:
  web:
    image: friendlyhello
    environment:
      NAME: %s
    deploy:
      replicas: %d
      resources:
        limits:
          cpus: "0.1"
          memory: 50M
      restart_policy:
        condition: on-failure
    ports:
      - "80:80"
    networks:
      - webnet
networks:
  webnet:
`, name, replicas)
}
