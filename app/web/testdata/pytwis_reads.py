#!/usr/bin/python3
"""pytwis's read operations, as shared/REFERENCE.md describes them
(get_timeline, general and a user's; get_user_tweets; get_followers and
get_following), run with Debian's python3-redis against a database, printed
as JSON. Like pytwis, it takes each tweet id of a list to a tweet hash with
userid, unix_time and body, and each user id to user:<id>'s username: a
tweet or user that is not there fails it, as it would fail pytwis.

    pytwis_reads.py SOCKET PASSWORD DB
"""
import json
import sys

import redis

sock, password, db = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = redis.Redis(unix_socket_path=sock, password=password, db=db, decode_responses=True)


def username(user_id):
    name = r.hget('user:' + user_id, 'username')
    if name is None:
        raise SystemExit('user:%s has no username' % user_id)
    return name


def tweets(key):
    out = []
    for tweet_id in r.lrange(key, 0, -1):
        t = r.hgetall('tweet:' + tweet_id)
        out.append([username(t['userid']), int(t['unix_time']), t['body']])
    return out


result = {'general_timeline': tweets('timeline'), 'users': {}}
for name, user_id in r.hgetall('users').items():
    result['users'][name] = {
        'timeline': tweets('timeline:' + user_id),
        'tweets': tweets('tweets_by:' + user_id),
        'followers': sorted(username(f) for f in r.zrange('follower:' + user_id, 0, -1)),
        'following': sorted(username(f) for f in r.zrange('following:' + user_id, 0, -1)),
    }
json.dump(result, sys.stdout)
