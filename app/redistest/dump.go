package redistest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/redis/go-redis/v9"
)

// Dump is the fixture format of a whole database: every key with its type
// and value (hashes as objects, lists in Redis order, sorted sets as
// [member, score] pairs).
type Dump map[string]struct {
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// Load writes every key of the JSON file's "keys" object into rdb.
func Load(ctx context.Context, rdb redis.Cmdable, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var file struct{ Keys Dump }
	if err := json.Unmarshal(raw, &file); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	pipe := rdb.TxPipeline()
	for key, v := range file.Keys {
		switch v.Type {
		case "string":
			var s string
			if err := json.Unmarshal(v.Value, &s); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			pipe.Set(ctx, key, s, 0)
		case "hash":
			var h map[string]string
			if err := json.Unmarshal(v.Value, &h); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			pipe.HSet(ctx, key, h)
		case "list":
			var l []string
			if err := json.Unmarshal(v.Value, &l); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			args := make([]any, len(l))
			for i, s := range l {
				args[i] = s
			}
			pipe.RPush(ctx, key, args...)
		case "zset":
			var pairs [][2]any
			if err := json.Unmarshal(v.Value, &pairs); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			for _, p := range pairs {
				member, _ := p[0].(string)
				score, _ := p[1].(float64)
				pipe.ZAdd(ctx, key, redis.Z{Score: score, Member: member})
			}
		default:
			return fmt.Errorf("%s: unsupported type %q", key, v.Type)
		}
	}
	_, err = pipe.Exec(ctx)
	return err
}

// Snapshot returns every key of the database with its type and value, in a
// form that compares with reflect.DeepEqual.
func Snapshot(ctx context.Context, rdb *redis.Client) (map[string]any, error) {
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		return nil, err
	}
	sort.Strings(keys)
	out := map[string]any{}
	for _, k := range keys {
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			return nil, err
		}
		var v any
		switch typ {
		case "string":
			v, err = rdb.Get(ctx, k).Result()
		case "hash":
			v, err = rdb.HGetAll(ctx, k).Result()
		case "list":
			v, err = rdb.LRange(ctx, k, 0, -1).Result()
		case "zset":
			v, err = rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "set":
			v, err = rdb.SMembers(ctx, k).Result()
		}
		if err != nil {
			return nil, err
		}
		out[k] = struct {
			Type  string
			Value any
		}{typ, v}
	}
	return out, nil
}
