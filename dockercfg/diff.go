package dockercfg

// Change is what MergeJSON would do to a document for a set of hosts,
// told without a credential: the rotated hosts by name, everything kept by
// count (the other keys belong to other teams and are never named).
type Change struct {
	// Added are the rotated hosts (normalized, in the order given) that
	// have no entry yet.
	Added []string
	// Replaced are the rotated hosts whose entry, in any spelling
	// ("HTTPS://Host/" for "host"), would be replaced.
	Replaced []string
	// KeptEntries counts the other auths entries, kept byte for byte.
	KeptEntries int
	// KeptKeys counts the top-level keys besides "auths", kept byte for byte.
	KeptKeys int
}

// Diff tells what MergeJSON(doc, hosts, cred) would change, without a
// credential. It reads doc exactly as MergeJSON does: the same documents are
// corrupt (ErrCorrupt) and the same hosts invalid.
func Diff(doc []byte, hosts []string) (Change, error) {
	rotated, err := normalizeHosts(hosts)
	if err != nil {
		return Change{}, err
	}
	top, auths, err := decodeRaw(doc)
	if err != nil {
		return Change{}, err
	}
	present := map[string]bool{}
	ch := Change{Added: []string{}, Replaced: []string{}}
	for key := range auths {
		n := NormalizeHost(key)
		if _, ok := rotated[n]; ok {
			present[n] = true
		} else {
			ch.KeptEntries++
		}
	}
	seen := map[string]bool{}
	for _, h := range hosts {
		n := NormalizeHost(h)
		if seen[n] {
			continue
		}
		seen[n] = true
		if present[n] {
			ch.Replaced = append(ch.Replaced, n)
		} else {
			ch.Added = append(ch.Added, n)
		}
	}
	for key := range top {
		if key != authsKey {
			ch.KeptKeys++
		}
	}
	return ch, nil
}
