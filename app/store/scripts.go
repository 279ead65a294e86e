package store

import "github.com/redis/go-redis/v9"

// Each script is one atomic step: Redis runs it to the end before any other
// command, so no reader ever sees half an operation. Scripts name their
// fixed keys in KEYS; per-user keys are derived inside from ids, which is
// fine on a single Redis server (pytwis's layout is not cluster-friendly).

func script(src string) *redis.Script { return redis.NewScript(luaKeys.Replace(src)) }

// register: KEYS users, next_user_id, auths; ARGV username, hash, secret.
// Returns the new id, or 0 when the name is taken.
var registerScript = script(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local id = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], id)
redis.call('HSET', '{user:}' .. id, '{username}', ARGV[1], '{password_hash}', ARGV[2], '{auth}', ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], id)
return id
`)

// credentials: KEYS users; ARGV username. Returns {id, hash} or nil.
var credentialsScript = script(`
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
local h = redis.call('HGET', '{user:}' .. id, '{password_hash}')
return {id, h or ''}
`)

// authenticate: KEYS auths; ARGV secret. pytwis's _is_loggedin: the secret
// must map to a user whose current secret it still is. Returns
// {id, username, followers, following} or nil.
var authenticateScript = script(`
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
local u = redis.call('HMGET', '{user:}' .. id, '{auth}', '{username}')
if u[1] ~= ARGV[1] then return false end
return {id, u[2] or '', redis.call('ZCARD', '{follower:}' .. id), redis.call('ZCARD', '{following:}' .. id)}
`)

// rotate: KEYS auths; ARGV old secret, new secret, new hash (” keeps it),
// expected current hash (checked when a new hash is given).
// Returns 1, 0 when the old secret is no longer current, -1 when the hash
// changed since it was verified.
var rotateScript = script(`
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return 0 end
local key = '{user:}' .. id
if redis.call('HGET', key, '{auth}') ~= ARGV[1] then return 0 end
if ARGV[3] ~= '' then
  if redis.call('HGET', key, '{password_hash}') ~= ARGV[4] then return -1 end
  redis.call('HSET', key, '{password_hash}', ARGV[3])
end
redis.call('HSET', key, '{auth}', ARGV[2])
redis.call('HSET', KEYS[1], ARGV[2], id)
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`)

// rehash: ARGV id, old hash, new hash. Replaces the hash only if nobody changed
// it since it was read. Returns 1 when replaced.
var rehashScript = script(`
local key = '{user:}' .. ARGV[1]
if redis.call('HGET', key, '{password_hash}') ~= ARGV[2] then return 0 end
redis.call('HSET', key, '{password_hash}', ARGV[3])
return 1
`)

// post: KEYS next_tweet_id, timeline; ARGV user id, unix time, body, general
// cap, user-timeline cap. The follower list is read inside the script, so a
// follow that lands while posting is either fully before or fully after it
// (pytwis read it outside its transaction). Returns the tweet id.
var postScript = script(`
local uid = ARGV[1]
local id = redis.call('INCR', KEYS[1])
redis.call('HSET', '{tweet:}' .. id, '{userid}', uid, '{unix_time}', ARGV[2], '{body}', ARGV[3])
local ucap = tonumber(ARGV[5]) - 1
redis.call('LPUSH', '{timeline:}' .. uid, id)
redis.call('LTRIM', '{timeline:}' .. uid, 0, ucap)
redis.call('LPUSH', '{tweets_by:}' .. uid, id)
for _, f in ipairs(redis.call('ZRANGE', '{follower:}' .. uid, 0, -1)) do
  redis.call('LPUSH', '{timeline:}' .. f, id)
  redis.call('LTRIM', '{timeline:}' .. f, 0, ucap)
end
redis.call('LPUSH', KEYS[2], id)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
return id
`)

// follow: KEYS users; ARGV follower id, followee name, unix time, 'follow' or
// 'unfollow'. Returns the followee id, -1 when no such user, -2 for oneself.
var followScript = script(`
local fid = redis.call('HGET', KEYS[1], ARGV[2])
if not fid then return -1 end
if fid == ARGV[1] then return -2 end
if ARGV[4] == 'follow' then
  redis.call('ZADD', '{follower:}' .. fid, ARGV[3], ARGV[1])
  redis.call('ZADD', '{following:}' .. ARGV[1], ARGV[3], fid)
else
  redis.call('ZREM', '{follower:}' .. fid, ARGV[1])
  redis.call('ZREM', '{following:}' .. ARGV[1], fid)
end
return tonumber(fid)
`)

// readTweets is shared Lua: the tweets of one list range, each as five values
// (id, user id, username, unix time, body). Ids whose tweet hash is missing are
// skipped. Usernames are looked up once per author per call.
const readTweets = `
local function read_tweets(list, start, stop)
  local out, names = {}, {}
  for _, tid in ipairs(redis.call('LRANGE', list, start, stop)) do
    local t = redis.call('HMGET', '{tweet:}' .. tid, '{userid}', '{unix_time}', '{body}')
    if t[1] then
      local name = names[t[1]]
      if not name then
        name = redis.call('HGET', '{user:}' .. t[1], '{username}') or ''
        names[t[1]] = name
      end
      out[#out + 1] = tid
      out[#out + 1] = t[1]
      out[#out + 1] = name
      out[#out + 1] = t[2] or '0'
      out[#out + 1] = t[3] or ''
    end
  end
  return out
end
`

// timeline: KEYS the list; ARGV start, stop. Returns read_tweets' values.
var timelineScript = script(readTweets + `
return read_tweets(KEYS[1], ARGV[1], ARGV[2])
`)

// userTweets: KEYS users; ARGV username, start, stop, viewer id (” when
// anonymous). Returns nil when no such user, else
// {id, viewer follows (0/1), followers, following, tweets...}.
var userTweetsScript = script(readTweets + `
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
local follows = 0
if ARGV[4] ~= '' and redis.call('ZSCORE', '{following:}' .. ARGV[4], id) then follows = 1 end
local head = {id, follows, redis.call('ZCARD', '{follower:}' .. id), redis.call('ZCARD', '{following:}' .. id)}
return {head, read_tweets('{tweets_by:}' .. id, ARGV[2], ARGV[3])}
`)

// names: ARGV a sorted-set key. Returns the usernames of its member ids.
var namesScript = script(`
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local n = redis.call('HGET', '{user:}' .. id, '{username}')
  if n then out[#out + 1] = n end
end
return out
`)
