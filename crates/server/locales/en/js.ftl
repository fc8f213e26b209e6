# Messages of the scripts (static/app.js, static/offline.js, static/offline.html): the server
# embeds them in each page (base.html, #lk-messages) and serves them as
# /static/messages/{en,ko}.json for the offline page. Every id starts with js-.

js-choose-contacts = Choose from contacts
js-offline-on = Offline guest keys are on for this device. With no connection, Create Guest Key makes the code here.
js-this-device = (this device)
js-offline-off = Offline guest keys are off for this device.
js-refused = Guest keys made offline that the server refused: { $list }. Their codes still open the lock until you revoke this device's issuer.
js-create-for = Create Guest Key for { $lock }
js-give-name = Give the guest's name.
js-give-times = Give when the key starts and ends.
js-end-after-start = The end must be after the start.
js-end-past = The end is in the past.
js-too-long = An offline guest key lasts at most 7 days; make a longer one when connected.
js-not-made = The key could not be made: { $error }
js-instructions = Type { $code } on the lock's keypad, then press #.
js-starts-working = It starts working { $start } and works until { $end } ({ $zone }); before then the lock refuses it.
js-works-now = It works now, until { $end } ({ $zone }).
js-works-once = It works once.
js-share-text = Your guest key for "{ $lock }": { $text }

## The offline page (static/offline.html)
js-offline-title = No connection
js-offline-heading = No connection to the server
js-offline-warning = Latchkey cannot reach its server, so this page shows only what this device can do alone.
js-retry = Try again
js-choose-heading = Make a guest key offline
js-choose-text = This device can make guest keys for:
js-none-text = Offline guest keys are not on for this device. An Admin can turn them on, while connected, on a lock's page under "Offline guest keys".
js-mint-before = Create Guest Key for
js-mint-after = (offline)
js-mint-text = Made on this device with its issuer file. Nobody is texted: share the code yourself. When the device is back online, the key is recorded on the server and listed like the others.
js-guest-name = Guest's name
js-times-before = Times are the lock's local time (
js-times-after = ). An offline key lasts at most 7 days.
js-starts = Starts
js-ends = Ends
js-one-time = One-time: the code opens once
js-create = Create Guest Key
js-made-before = Guest key for
js-made-after = {""}
js-code-label = guest code
js-share = Share the code
js-text = Text the code
js-not-yet = Not yet on the server: it is recorded when this device is back online.
js-another = Make another
js-waiting = Waiting to be recorded
