# The web app's words, English. Every id here is also in ko/pages.ftl with the same variables
# (a test checks). Ids start with the page or area they belong to.

## Layout
nav-locks = My locks
nav-invitations = Invitations
nav-profile = Profile
nav-sign-out = Sign out
nothing-yet = Nothing yet.
none = None.
tick-to-confirm = Tick the box to confirm.
back = ← back
cancel = Cancel
continue = Continue
save = Save
revoke = Revoke
remove = Remove
done = Done

## Activity
activity-title = Activity
activity-who = Person or key
activity-everyone = Everyone
activity-what = What
activity-day = Day
activity-show = Show
activity-clear = Clear filters
activity-times-in = Times in { $zone }, newest first.
activity-no-match = Nothing matches these filters.
activity-older = Older
activity-kind-all = Everything
activity-kind-opened = Opened
activity-kind-refused = Refused
activity-kind-changes = Changes to people and keys

## Rental calendars
calendars-title = Rental calendars
calendars-intro = A listing's calendar export (iCalendar, from Airbnb, Booking.com, Vrbo…): each reservation becomes a guest key from its check-in to its check-out, in the lock's time ({ $zone }). A moved stay keeps its code; a cancelled one is revoked. Each calendar is read every { $every }.
calendars-calendar-label = Calendar { $name }
calendars-check-in = Check-in
calendars-check-out = Check-out
calendars-last-read = Last read
calendars-never = never
calendars-last-failed = Last read failed, nothing was changed: { $error }
calendars-read-now = Read now
calendars-reservations = Reservations
calendars-none-yet = None yet.
calendars-key = Key
calendars-remove-summary = Remove this calendar
calendars-remove-text = Its { $count } upcoming guest key(s) are revoked; past ones stay in the activity log.
calendars-remove-confirm = Yes, remove { $name } and revoke its upcoming keys
calendars-remove-button = Remove calendar
calendars-add-heading = Add a calendar
calendars-url = Calendar address (iCalendar export URL)
calendars-name = Name (optional, e.g. the listing)
calendars-check-in-time = Check-in time
calendars-check-out-time = Check-out time
calendars-add-button = Add calendar

## Phone numbers
country-label = Country of the number
country-other = Other: type + and the country code
phone-label = Phone number
access-level = Access level

## Errors shown as pages
error-csrf-heading = Please try again
error-csrf-text = This form expired or did not come from this site. Reload the page and send it again.
error-start-again = Start again
error-sign-in-again = Sign in again
error-sign-in-again-text = Sign in again.
error-not-found = Not found
error-not-found-text = This { $what } does not exist.
error-not-allowed = Not allowed
error-did-not-work = That did not work
error-too-many = Too many attempts
error-too-many-text = Try again in { $seconds } seconds.
error-too-many-form = Too many attempts; try again in { $seconds } seconds.
error-unavailable = Unavailable
error-timeout = No answer
error-internal = Something went wrong
error-internal-text = Something went wrong on our side; try again.
thing-lock = lock
thing-member = member
thing-invitation = invitation
thing-guest-key = guest key
thing-calendar = calendar
thing-issuer = issuer
thing-webhook = webhook

## Confirmations after a redirect
notice-invited = Successfully invited! They will get an SMS with a link.
notice-unlocked = Unlocked.
notice-locked = Locked.
notice-pin = PIN saved. The lock will have it on its next sync.
notice-saved = Saved.
notice-removed = Removed.
notice-revoked = Revoked. The lock will refuse it after its next sync.
notice-accepted = Welcome! You are now a member of this lock.
notice-declined = Invitation declined.
notice-paired = Lock paired. You are its Admin.
notice-left = You left the lock.
notice-resent = We are texting the invitation again.

## Access levels, statuses, times
level-admin = Admin
level-family = Family
level-recurring-guest = Recurring Guest
status-scheduled = scheduled
status-active = active
status-used = used
status-expired = expired
status-revoked = revoked
ago-now = just now
ago-minutes = { $count } min ago
ago-hours = { $count } h ago
duration-minutes = { $count } minutes
duration-seconds = { $count } seconds
when-today = today { $time }
when-tomorrow = tomorrow { $time }
when-weekday = { $day } { $time }
when-date = { $date } { $time }
opening-now-until = You can open now, until { $when }.
opening-now = You can open now.
opening-from = You can open from { $when }.
opening-ended = Your access schedule has ended; ask an Admin of the lock.
schedule-from-until = from { $from } until { $until }
schedule-from-only = from { $from }
schedule-until-only = until { $until }

## Activity (more)
activity-guest-key = Guest key: { $name }
event-opened = Opened
event-denied = Denied
event-by = by { $name }

## Calendars (more)
calendars-counts = { $added } new, { $changed } changed, { $cancelled } cancelled, { $unchanged } unchanged.
calendars-skipped = { $count } reservation(s) skipped: the lock is full or the event has no usable dates.
calendars-done-added = Calendar added and read: { $counts }
calendars-done-read = Calendar read: { $counts }
calendars-done-failed = The calendar could not be read; nothing was changed (see below).
calendars-done-removed = Calendar removed; { $count } upcoming guest key(s) revoked.
calendars-not-removed = The calendar was not removed: tick the box to confirm.

## A guest key
guest-key-title = Guest key { $name }
guest-key-heading = Guest key for { $name }
guest-key-code-label = guest code
guest-key-window = Window
guest-key-works-once = works once
guest-key-status = Status
guest-key-share = Share the code
guest-key-text = Text the code
guest-key-resend = Send the SMS again
guest-key-change-end = Change the end
guest-key-works-until = Works until (the lock's time)
guest-key-save-end = Save the new end
guest-key-revoke-confirm = Yes, revoke the key of { $name }
guest-key-revoke-note = The code stops working at the lock's next sync.
key-notice-created = Guest key created.
key-notice-extended = Saved. The lock will have the new end on its next sync; the code is the same.
key-notice-replaced = Saved with a new code: the old code stops working at the lock's next sync.
key-notice-resent = We are texting the code again.
key-sms-sent = The code was texted to { $phone }.
key-sms-failing = Texting the code to { $phone } is failing; read it to your guest.
key-sms-sending = We are texting the code to { $phone }.
key-sms-none = No SMS was sent: read the code to your guest.
key-code-stays = The code stays the same when you change the end.
key-code-stays-until = The code stays the same for an end up to { $when }; a later end makes a new code (texted to the guest if they have a phone number) and the old one stops working.
key-first-used = first used { $when }
key-not-used = not used yet
key-instructions = Type { $code } on the lock's keypad, then press #.
key-share-text = Your guest key for "{ $lock }": { $text }
key-starts-working = It starts working { $start } and works until { $end } ({ $zone }); before then the lock refuses it.
key-works-now = It works now, until { $end } ({ $zone }).

## Create Guest Key
guest-key-new-title = Create Guest Key
guest-key-new-name = Guest's name
guest-key-new-phone = Phone number (optional: we text the code)
guest-key-new-times = Times are the lock's local time ({ $zone }).
guest-key-new-starts = Starts
guest-key-new-ends = Ends
guest-key-new-one-time = One-time: the code opens once
guest-key-new-precautions = Precautions
guest-key-new-precautions-text = Anyone who knows the code can open the door inside its window. Share it only with your guest. The code works even when the lock is offline; revoking it reaches the lock on its next connection.
guest-key-new-understand = I understand

## Invitations
invitations-none = No invitations are waiting for you.
invitations-invites-you = { $by } invites you as { $level }
invitations-until = until { $when }
invitations-accept = Accept
invitations-decline = Decline
invite-title = Invite user
invite-member-title = Add Family Member
invite-member-text = A person with their own account: Admin, Family, or a Recurring Guest on a weekly schedule.
invite-guest-text = A keypad code for a visitor, for a time window or one use.
invite-member-name = Their name
invite-member-phone-placeholder = 0151 23456780 or +49 151 23456780
invite-member-admin = Admin: everything, any time, and manages users
invite-member-family = Family: opens any time
invite-member-recurring = Recurring Guest: opens on a weekly schedule
invite-member-invite = Invite

## A lock
lock-online = Online
lock-offline = Offline
lock-last-seen = last seen { $when }
lock-unlock = Unlock
lock-lock = Lock
lock-offline-text = The lock is offline, so it cannot be opened from here. PINs and guest codes still work at its keypad.
lock-you-are = You are { $level } · times in { $zone }
lock-my-access = My access and PIN
lock-latest = Latest activity
lock-capacity = Holds { $keys } of { $max_keys } guest keys · { $members } of { $max_members } members
bolt-locked = Locked
bolt-unlocked = Unlocked
bolt-not-reported = Bolt state not reported yet
bolt-unknown-offline = Bolt state unknown while offline

## My locks
locks-invitations-waiting =
    { $count ->
        [one] You have { $count } invitation waiting.
       *[other] You have { $count } invitations waiting.
    }
locks-none = You are not a member of any lock yet.
locks-online = online
locks-offline = offline
locks-pair = Pair a lock
locks-setup-code = Setup code shown by the lock
locks-name = Name
locks-name-placeholder = Front door
locks-time-zone = Time zone of the lock
locks-time-zone-help = A zone like Europe/Berlin or America/New_York; your browser's is proposed.
locks-pair-button = Pair

## A member
member-title = Member
member-phone = Phone
member-level = Level
member-schedule = Schedule
member-pin = PIN
member-pin-set = set
member-pin-not-set = not set
member-on-lock = On the lock
member-synced = synced
member-pending = pending
member-pending-long = pending: the lock has not taken the latest change yet
member-access = Access
member-keypad-pin = Keypad PIN
member-new-pin = New PIN (6 to 8 digits)
member-set-pin = Set PIN
member-leave-heading = Leave this lock
member-leave-confirm = Yes, I want to leave
member-remove-confirm = Yes, remove { $name }
member-leave = Leave

## Notifications
notifications-title = Notifications
notifications-intro = Text messages to you about this lock; at most one of each kind every 10 minutes.
notifications-guest-arrived = A guest has arrived (the first use of a guest key)
notifications-lockout = The keypad locked itself after wrong codes
notifications-offline = The lock has been offline for more than 10 minutes
notifications-calendar = A rental calendar of the lock cannot be read

## Offline guest keys
offline-title = Offline guest keys
offline-heading = Offline guest keys on this device
offline-what = What it does
offline-what-text = With offline guest keys on, this phone or computer can make a guest key for { $lock } when it cannot reach the server: open Create Guest Key as usual, and the app makes the code on the device. The lock accepts it even though it has never heard of it.
offline-point-window = Such a key is a code for a window of at most 7 days. The device cannot text it: share it yourself (the app offers your phone's share sheet or a text message).
offline-point-record = When the device is back online, the app records the key on the server, so it appears in User Management and the activity log.
offline-point-lost = Anyone who holds this device can make keys for this lock. If it is lost, revoke its issuer below: every code it made, recorded or not, stops working at the lock's next sync.
offline-this-device = This device
offline-needs-js = Offline guest keys need JavaScript and this browser's storage.
offline-device-name = Name of this device
offline-device-placeholder = My phone
offline-turn-on = Turn on offline guest keys
offline-devices = Devices that can make keys
offline-since = since { $when }
offline-revoke-confirm = Revoke { $name }? Every guest key it made stops working at the lock's next sync.
offline-revoke = Revoke { $name }
offline-notice-revoked = This device's issuer is revoked: the codes it made stop working at the lock's next sync.
offline-notice-on = Offline guest keys are on for this device.

## Profile
profile-welcome = Welcome
profile-first-heading = Welcome! What is your name?
profile-first-text = The people who share a lock with you see this name in their app and in the activity log.
profile-text = Your name, as the people who share a lock with you see it.
profile-name = Your name
profile-phone = Phone number: { $phone }
profile-language = Language
profile-language-browser = As the browser asks

## Schedules
schedule-legend = Schedule (Recurring Guest), in the lock's local time
schedule-from = From
schedule-to = To
schedule-valid-from = Valid from (optional)
schedule-valid-until = Valid until (optional)

## Sign in
sign-in-title = Sign in
sign-in-sent-before = We sent a 6-digit code to{" "}
sign-in-sent-after = .
sign-in-code = Code from the SMS
sign-in-new-code = Send a new code
sign-in-other-number = Use another phone number
sign-in-intro = Enter your mobile number. We will text you a sign-in code.
sign-in-phone-placeholder = 202 555 0123 or +1 202 555 0123
sign-in-send = Send me a code
sign-in-wrong-code = That code is wrong or has expired. Check the SMS, or ask for a new code.

## User Management
users-title = User Management
users-members = Members
users-pin-set = PIN set
users-pin-not-set = PIN not set
users-pending-invitations = Pending invitations
users-expires = expires { $when }
users-send-again = Send again
users-revoke-invitation-confirm = Revoke this invitation?
users-guest-keys = Guest keys
users-one-time = one-time
users-revoke-key-confirm = Revoke the guest key of { $name }? The code stops working at the lock's next sync.
users-starts-working = starts working { $when }

## Domain messages by their key (src/web/i18n.rs `slug`); English keeps the domain's text
dm-must-not-be-empty = Must not be empty
dm-must-not-contain-control-characters = Must not contain control characters
dm-must-be-at-most-64-characters = Must be at most 64 characters
dm-not-a-phone-number = Not a phone number
dm-not-a-valid-phone-number-for-its-country = Not a valid phone number for its country
dm-enter-a-phone-number-with-its-country-code-e-g-1-202-555-012 = Enter a phone number with its country code, e.g. +1 202 555 0123
dm-include-the-country-code-starting-with-e-g-1-202-555-0123 = Include the country code, starting with + (e.g. +1 202 555 0123)
dm-too-easy-to-guess-avoid-repeated-digits-and-sequences = Too easy to guess; avoid repeated digits and sequences
dm-use-6-to-8-digits = Use 6 to 8 digits
dm-use-digits-only = Use digits only
dm-use-an-iana-time-zone-name-such-as-europe-berlin = Use an IANA time-zone name such as Europe/Berlin
dm-use-an-instant-like-2027-07-01t15-00-00-02-00-or-a-local-tim = Use an instant like 2027-07-01T15:00:00+02:00 or a local time like 2027-07-01T15:00
dm-this-local-time-does-not-exist-at-the-lock = This local time does not exist at the lock
dm-is-in-the-past = Is in the past
dm-must-be-after-starts-at = Must be after starts_at
dm-must-be-after-the-key-s-start = Must be after the key's start
dm-must-be-within-a-year-from-now = Must be within a year from now
dm-a-guest-key-lasts-at-most-90-days-from-its-start = A guest key lasts at most 90 days from its start
dm-a-guest-key-lasts-at-most-90-days = A guest key lasts at most 90 days
dm-confirm-the-precautions-before-creating-a-guest-key = Confirm the precautions before creating a guest key
dm-enter-the-6-digits-from-the-sms = Enter the 6 digits from the SMS
dm-enter-the-digits-of-the-setup-code-the-lock-shows = Enter the digits of the setup code the lock shows
dm-a-guest-code-has-12-digits = A guest code has 12 digits
dm-a-recurring-guest-needs-a-schedule = A Recurring Guest needs a schedule
dm-only-a-recurring-guest-has-a-schedule = Only a Recurring Guest has a schedule
dm-choose-at-least-one-day = Choose at least one day
dm-give-at-least-one-window = Give at least one window
dm-must-differ-from-from = Must differ from 'from'
dm-must-not-be-before-valid-from = Must not be before valid_from
dm-use-hh-mm-between-00-00-and-23-59 = Use HH:MM between 00:00 and 23:59
dm-use-hh-mm-between-00-00-and-24-00 = Use HH:MM between 00:00 and 24:00
dm-use-a-date-like-2027-01-31 = Use a date like 2027-01-31
dm-use-opened-refused-or-changes = Use opened, refused or changes
dm-this-day-does-not-exist-at-the-lock = This day does not exist at the lock
dm-this-device-s-issuer-did-not-make-this-code-for-this-window = This device's issuer did not make this code for this window
dm-no-unpaired-lock-answered-with-this-setup-code-check-the-cod = No unpaired lock answered with this setup code; check the code and that the lock is online
dm-the-lock-did-not-finish-pairing-in-time-it-returns-to-pairin = The lock did not finish pairing in time; it returns to pairing with a new setup code, try again with that
dm-this-idempotency-key-was-used-for-a-different-request-send-a = This idempotency key was used for a different request; send a new key
dm-only-an-admin-of-this-lock-may-do-this = Only an Admin of this lock may do this
dm-only-an-admin-may-remove-other-members = Only an Admin may remove other members
dm-outside-your-schedule = Outside your schedule
dm-the-mqtt-broker-is-not-reachable = The MQTT broker is not reachable
dm-the-pin-could-not-be-set-just-now-try-again = The PIN could not be set just now; try again
dm-the-database-is-unavailable-try-again = The database is unavailable; try again
dm-the-guest-key-is-already-revoked = The guest key is already revoked
dm-the-guest-key-is-revoked = The guest key is revoked
dm-the-invitation-has-expired-ask-for-a-new-one = The invitation has expired; ask for a new one
dm-the-invitation-is-no-longer-pending = The invitation is no longer pending
dm-the-issuer-is-already-deleted = The issuer is already deleted
dm-the-lock-did-not-answer-in-time = The lock did not answer in time
dm-the-one-time-guest-key-was-already-used = The one-time guest key was already used
dm-this-gateway-cannot-lock-remotely = This gateway cannot lock remotely
dm-this-lock-already-has-7-device-issuers-delete-one-first = This lock already has 7 device issuers; delete one first
dm-you-are-already-a-member-of-this-lock = You are already a member of this lock
dm-must-be-en-ko-or-empty-the-browser-s = Must be en, ko or empty (the browser's)

## Activity descriptions (src/web/i18n.rs EVENT_TEXTS); English shows the stored text
ev-key-created-once-offline = guest key "{ $name }" (one-time) { $from } – { $to }, made offline on "{ $device }"
ev-key-created-offline = guest key "{ $name }" { $from } – { $to }, made offline on "{ $device }"
ev-key-created-once = guest key "{ $name }" (one-time) { $from } – { $to }
ev-key-created = guest key "{ $name }" { $from } – { $to }
ev-key-from-calendar-new-code = guest key "{ $name }" { $from } – { $to } from calendar "{ $calendar }" (a new code)
ev-key-from-calendar = guest key "{ $name }" { $from } – { $to } from calendar "{ $calendar }"
ev-key-moved = guest key "{ $name }" moved with its reservation from { $from } to { $to }; same code
ev-issuer-created = guest-code issuer for "{ $device }" (slot { $slot })
ev-issuer-revoked = deleted guest-code issuer "{ $device }"
ev-key-extended = guest key "{ $name }" now ends { $to } (was { $from }); same code
ev-key-extended-new-code = guest key "{ $name }" now ends { $to } (was { $from }); a new code, the old one is revoked
ev-key-revoked-calendar-deleted = revoked guest key "{ $name }": its calendar "{ $calendar }" was deleted
ev-calendar-deleted = calendar "{ $name }" deleted; { $count } upcoming guest key(s) revoked
dm-the-reservation-was-cancelled = The reservation was cancelled
dm-the-stay-was-shortened-and-is-over = The stay was shortened and is over
ev-lock-renamed = renamed to "{ $name }"
ev-lock-time-zone = time zone { $zone }
ev-lock-lockout = keypad lockout after { $limit } wrong entries for { $seconds } s
ev-key-revoked-why = revoked guest key "{ $name }": { $why }
ev-key-revoked = revoked guest key "{ $name }"
ev-key-replaced-why = replaced guest key "{ $name }": { $why }
ev-key-resent = texted guest key "{ $name }" again
ev-invited = invited { $who } as { $level }
ev-invitation-revoked = revoked the invitation of { $who }
ev-invitation-resent = texted the invitation of { $who } again
ev-accepted = accepted the invitation as { $level }
ev-declined = declined the invitation
ev-paired = paired as "{ $name }"
ev-schedule-changed = schedule changed
ev-level-changed = access level { $from_level } → { $level }
ev-left = left the lock
ev-removed = removed
ev-pin-cleared = keypad PIN cleared: another member chose the same PIN
ev-pin-set = keypad PIN set
ev-calendar-added = calendar "{ $name }" added (check-in { $in }, check-out { $out })
ev-calendar-failing = calendar "{ $name }" could not be read; nothing was changed
ev-pin = PIN
ev-guest-code = guest code
ev-remote-unlock = remote unlock
ev-times-in-a-row = { $count } times in a row
ev-keypad-locked = keypad locked until { $until }

## Event kinds, methods and refusal reasons
event-kind-access = access
event-kind-lockout = lockout
event-kind-lock-time-lost = lock time lost
event-kind-calendar-added = calendar added
event-kind-calendar-deleted = calendar deleted
event-kind-calendar-failing = calendar failing
event-kind-guest-key-created = guest key created
event-kind-guest-key-revoked = guest key revoked
event-kind-guest-key-changed = guest key changed
event-kind-guest-key-resent = guest key resent
event-kind-invitation-sent = invitation sent
event-kind-invitation-revoked = invitation revoked
event-kind-invitation-resent = invitation resent
event-kind-invitation-declined = invitation declined
event-kind-member-added = member added
event-kind-member-changed = member changed
event-kind-member-left = member left
event-kind-member-removed = member removed
event-kind-pin-set = pin set
event-kind-pin-cleared = pin cleared
event-kind-lock-paired = lock paired
event-kind-lock-changed = lock changed
event-kind-issuer-created = issuer created
event-kind-issuer-revoked = issuer revoked
event-kind-unlock = unlock
event-kind-lock = lock
event-method-keypad = keypad
event-method-remote = remote
event-reason-unknown-credential = unknown credential
event-reason-disabled = disabled
event-reason-outside-schedule = outside schedule
event-reason-not-yet-valid = not yet valid
event-reason-expired = expired
event-reason-already-used = already used
event-reason-revoked = revoked
event-reason-locked-out = locked out
event-reason-time-unknown = time unknown
event-reason-used-table-full = used table full
event-reason-not-synced = not synced
