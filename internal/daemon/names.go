package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
)

// Docker-style generated names ("adjective_scientist"): users recognise
// them, and scripts parse `docker ps` expecting that shape.
var (
	nameLeft  = []string{"admiring", "agitated", "amazing", "angry", "awesome", "blissful", "bold", "boring", "brave", "busy", "charming", "clever", "cool", "compassionate", "confident", "cranky", "dazzling", "determined", "distracted", "dreamy", "eager", "ecstatic", "elastic", "elated", "elegant", "epic", "fervent", "festive", "flamboyant", "focused", "friendly", "frosty", "gallant", "gifted", "goofy", "gracious", "happy", "hardcore", "heuristic", "hopeful", "hungry", "infallible", "inspiring", "intelligent", "jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid", "magical", "modest", "musing", "naughty", "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic", "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical", "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly", "sleepy", "stoic", "strange", "stupefied", "suspicious", "sweet", "tender", "thirsty", "trusting", "unruffled", "upbeat", "vibrant", "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial", "youthful", "zealous", "zen"}
	nameRight = []string{"albattani", "allen", "archimedes", "ardinghelli", "babbage", "bardeen", "bell", "bhabha", "black", "bohr", "booth", "borg", "bose", "brown", "carson", "cerf", "chandrasekhar", "curie", "darwin", "davinci", "dijkstra", "einstein", "elion", "engelbart", "euclid", "euler", "faraday", "fermat", "fermi", "feynman", "franklin", "galileo", "gates", "goldberg", "goodall", "hamilton", "hawking", "heisenberg", "hertz", "hodgkin", "hopper", "hypatia", "jackson", "jennings", "johnson", "kalam", "kepler", "knuth", "lamarr", "lamport", "leakey", "lovelace", "lumiere", "mayer", "mccarthy", "mclean", "meitner", "mendel", "merkle", "morse", "napier", "newton", "nobel", "noether", "pare", "pascal", "pasteur", "perlman", "pike", "poincare", "ptolemy", "raman", "ride", "ritchie", "rosalind", "sammet", "shannon", "shockley", "sinoussi", "stonebraker", "swanson", "tesla", "thompson", "torvalds", "turing", "varahamihira", "visvesvaraya", "wescoff", "wiles", "williams", "wilson", "wing", "wozniak", "wright", "yalow", "yonath"}
)

func pick(list []string) string {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(list))))
	if err != nil {
		return list[0]
	}
	return list[n.Int64()]
}

// generateName returns a free "/adjective_name", adding a digit on clashes.
func generateName(taken func(string) bool) string {
	for i := 0; i < 10; i++ {
		name := "/" + pick(nameLeft) + "_" + pick(nameRight)
		if i > 0 {
			name = fmt.Sprintf("%s%d", name, i)
		}
		if !taken(name) {
			return name
		}
	}
	return "/" + newID()[:12]
}

// newID returns 64 random hex characters.
func newID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b[:])
}
