package store

// agree makes a record follow another that decides, where the two are
// written in separate steps (two commands; two slots on a Cluster): an
// operation and its opposite on the same pair at the same moment (a like
// and an unlike from two tabs) could otherwise each write one record last
// and leave them apart for good. It reads the deciding record, writes the
// other to match, and reads again until two reads agree; whichever
// operation writes last has then written what the deciding record holds.
func agree[T comparable](read func() (T, error), write func(T) error) error {
	v, err := read()
	for err == nil {
		if err = write(v); err != nil {
			return err
		}
		was := v
		if v, err = read(); err == nil && v == was {
			return nil
		}
	}
	return err
}
