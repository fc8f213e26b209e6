# 웹 앱의 한국어 문구. en/pages.ftl과 같은 id, 같은 변수를 가집니다(테스트가 확인합니다).

## Layout
nav-locks = 내 도어락
nav-invitations = 초대
nav-profile = 프로필
nav-sign-out = 로그아웃
nothing-yet = 아직 없습니다.
none = 없음.
tick-to-confirm = 확인하려면 상자에 체크하세요.
back = ← 뒤로
cancel = 취소
continue = 계속
save = 저장
revoke = 취소하기
remove = 삭제
done = 완료

## Activity
activity-title = 활동 기록
activity-who = 사람 또는 키
activity-everyone = 모두
activity-what = 종류
activity-day = 날짜
activity-show = 보기
activity-clear = 필터 지우기
activity-times-in = { $zone } 시간, 최신 순.
activity-no-match = 필터에 맞는 기록이 없습니다.
activity-older = 이전 기록
activity-kind-all = 전체
activity-kind-opened = 열림
activity-kind-refused = 거부됨
activity-kind-changes = 사람과 키 변경

## Rental calendars
calendars-title = 숙박 예약 캘린더
calendars-intro = 숙소의 캘린더 내보내기(iCalendar, 에어비앤비, 부킹닷컴, 브르보 등): 예약마다 체크인부터 체크아웃까지 도어락 시간({ $zone }) 기준의 게스트 키가 만들어집니다. 일정이 바뀐 예약은 코드가 유지되고, 취소된 예약은 키가 취소됩니다. 캘린더는 { $every }마다 읽습니다.
calendars-calendar-label = 캘린더 { $name }
calendars-check-in = 체크인
calendars-check-out = 체크아웃
calendars-last-read = 마지막으로 읽은 시각
calendars-never = 없음
calendars-last-failed = 마지막 읽기에 실패해 아무것도 바뀌지 않았습니다: { $error }
calendars-read-now = 지금 읽기
calendars-reservations = 예약
calendars-none-yet = 아직 없습니다.
calendars-key = 키
calendars-remove-summary = 이 캘린더 삭제
calendars-remove-text = 예정된 게스트 키 { $count }개가 취소됩니다. 지난 키는 활동 기록에 남습니다.
calendars-remove-confirm = 네, { $name }을(를) 삭제하고 예정된 키를 취소합니다
calendars-remove-button = 캘린더 삭제
calendars-add-heading = 캘린더 추가
calendars-url = 캘린더 주소(iCalendar 내보내기 주소)
calendars-name = 이름(선택, 예: 숙소 이름)
calendars-check-in-time = 체크인 시각
calendars-check-out-time = 체크아웃 시각
calendars-add-button = 캘린더 추가

## Phone numbers
country-label = 전화번호의 국가
country-other = 기타: +와 국가 번호를 입력하세요

phone-label = 전화번호
access-level = 권한

## Errors shown as pages
error-csrf-heading = 다시 시도해 주세요
error-csrf-text = 이 양식이 만료되었거나 이 사이트에서 보낸 것이 아닙니다. 페이지를 새로 고친 뒤 다시 보내세요.
error-start-again = 처음부터 다시
error-sign-in-again = 다시 로그인하세요
error-sign-in-again-text = 다시 로그인하세요.
error-not-found = 찾을 수 없음
error-not-found-text = 이 { $what }은(는) 없습니다.
error-not-allowed = 허용되지 않음
error-did-not-work = 처리하지 못했습니다
error-too-many = 시도가 너무 많습니다
error-too-many-text = { $seconds }초 후에 다시 시도하세요.
error-too-many-form = 시도가 너무 많습니다. { $seconds }초 후에 다시 시도하세요.
error-unavailable = 사용할 수 없음
error-timeout = 응답 없음
error-internal = 문제가 발생했습니다
error-internal-text = 서버 쪽에서 문제가 발생했습니다. 다시 시도하세요.
thing-lock = 도어락
thing-member = 구성원
thing-invitation = 초대
thing-guest-key = 게스트 키
thing-calendar = 캘린더
thing-issuer = 발급자
thing-webhook = 웹훅

## Confirmations after a redirect
notice-invited = 초대했습니다! 링크가 담긴 문자가 전송됩니다.
notice-unlocked = 열었습니다.
notice-locked = 잠갔습니다.
notice-pin = 비밀번호를 저장했습니다. 도어락이 다음 동기화 때 받습니다.
notice-saved = 저장했습니다.
notice-removed = 삭제했습니다.
notice-revoked = 취소했습니다. 도어락이 다음 동기화 후 거부합니다.
notice-accepted = 환영합니다! 이제 이 도어락의 구성원입니다.
notice-declined = 초대를 거절했습니다.
notice-paired = 도어락을 연결했습니다. 이제 관리자입니다.
notice-left = 도어락에서 나갔습니다.
notice-resent = 초대 문자를 다시 보내고 있습니다.

## Access levels, statuses, times
level-admin = 관리자
level-family = 가족
level-recurring-guest = 정기 방문자
status-scheduled = 예정
status-active = 사용 중
status-used = 사용됨
status-expired = 만료됨
status-revoked = 취소됨
ago-now = 방금
ago-minutes = { $count }분 전
ago-hours = { $count }시간 전
duration-minutes = { $count }분
duration-seconds = { $count }초
when-today = 오늘 { $time }
when-tomorrow = 내일 { $time }
when-weekday = { $day }요일 { $time }
when-date = { $date } { $time }
opening-now-until = 지금 열 수 있습니다. { $when }까지.
opening-now = 지금 열 수 있습니다.
opening-from = { $when }부터 열 수 있습니다.
opening-ended = 출입 일정이 끝났습니다. 도어락 관리자에게 문의하세요.
schedule-from-until = { $from }부터 { $until }까지
schedule-from-only = { $from }부터
schedule-until-only = { $until }까지

## Activity (more)
activity-guest-key = 게스트 키: { $name }
event-opened = 열림
event-denied = 거부됨
event-by = 처리: { $name }

## Calendars (more)
calendars-counts = 새 예약 { $added }, 변경 { $changed }, 취소 { $cancelled }, 그대로 { $unchanged }.
calendars-skipped = 예약 { $count }건 건너뜀: 도어락이 가득 찼거나 예약에 쓸 수 있는 날짜가 없습니다.
calendars-done-added = 캘린더를 추가하고 읽었습니다: { $counts }
calendars-done-read = 캘린더를 읽었습니다: { $counts }
calendars-done-failed = 캘린더를 읽지 못해 아무것도 바뀌지 않았습니다(아래 참고).
calendars-done-removed = 캘린더를 삭제했습니다. 예정된 게스트 키 { $count }개를 취소했습니다.
calendars-not-removed = 캘린더를 삭제하지 않았습니다. 확인하려면 상자에 체크하세요.

## A guest key
guest-key-title = 게스트 키 { $name }
guest-key-heading = { $name }님의 게스트 키
guest-key-code-label = 게스트 코드
guest-key-window = 유효 기간
guest-key-works-once = 한 번만 사용
guest-key-status = 상태
guest-key-share = 코드 공유
guest-key-text = 코드 문자로 보내기
guest-key-resend = 문자 다시 보내기
guest-key-change-end = 종료 시각 변경
guest-key-works-until = 종료 시각(도어락 시간)
guest-key-save-end = 새 종료 시각 저장
guest-key-revoke-confirm = 네, { $name }님의 키를 취소합니다
guest-key-revoke-note = 도어락의 다음 동기화 때부터 코드가 작동하지 않습니다.
key-notice-created = 게스트 키를 만들었습니다.
key-notice-extended = 저장했습니다. 도어락이 다음 동기화 때 새 종료 시각을 받습니다. 코드는 그대로입니다.
key-notice-replaced = 새 코드로 저장했습니다. 이전 코드는 도어락의 다음 동기화 때부터 작동하지 않습니다.
key-notice-resent = 코드를 문자로 다시 보내고 있습니다.
key-sms-sent = 코드를 { $phone }(으)로 문자로 보냈습니다.
key-sms-failing = { $phone }(으)로 코드 문자를 보내지 못하고 있습니다. 게스트에게 코드를 직접 알려 주세요.
key-sms-sending = 코드를 { $phone }(으)로 문자로 보내고 있습니다.
key-sms-none = 문자를 보내지 않았습니다. 게스트에게 코드를 직접 알려 주세요.
key-code-stays = 종료 시각을 바꿔도 코드는 그대로입니다.
key-code-stays-until = 종료 시각이 { $when }까지면 코드는 그대로입니다. 그보다 늦으면 새 코드가 만들어지고(전화번호가 있으면 게스트에게 문자로 보냄) 이전 코드는 작동하지 않습니다.
key-first-used = 처음 사용: { $when }
key-not-used = 아직 사용하지 않음
key-instructions = 도어락 키패드에 { $code }을(를) 입력한 뒤 #을 누르세요.
key-share-text = "{ $lock }"의 게스트 키: { $text }
key-starts-working = { $start }부터 { $end }까지 작동합니다({ $zone }). 그 전에는 도어락이 거부합니다.
key-works-now = 지금부터 { $end }까지 작동합니다({ $zone }).

## Create Guest Key
guest-key-new-title = 게스트 키 만들기
guest-key-new-name = 게스트 이름
guest-key-new-phone = 전화번호(선택: 코드를 문자로 보냅니다)
guest-key-new-times = 시각은 도어락의 현지 시간({ $zone })입니다.
guest-key-new-starts = 시작
guest-key-new-ends = 종료
guest-key-new-one-time = 일회용: 코드로 한 번만 열 수 있습니다
guest-key-new-precautions = 주의 사항
guest-key-new-precautions-text = 코드를 아는 사람은 누구나 유효 기간 안에 문을 열 수 있습니다. 게스트에게만 공유하세요. 코드는 도어락이 오프라인일 때도 작동하며, 취소는 도어락이 다음에 연결될 때 반영됩니다.
guest-key-new-understand = 이해했습니다

## Invitations
invitations-none = 기다리는 초대가 없습니다.
invitations-invites-you = { $by }님이 { $level }(으)로 초대했습니다
invitations-until = { $when }까지
invitations-accept = 수락
invitations-decline = 거절
invite-title = 사용자 초대
invite-member-title = 가족 구성원 추가
invite-member-text = 자기 계정이 있는 사람: 관리자, 가족, 또는 주간 일정의 정기 방문자.
invite-guest-text = 방문자를 위한 키패드 코드. 정해진 기간 또는 한 번 사용.
invite-member-name = 이름
invite-member-phone-placeholder = 010 1234 5678 또는 +82 10 1234 5678
invite-member-admin = 관리자: 언제든 모든 것, 사용자 관리 포함
invite-member-family = 가족: 언제든 열 수 있음
invite-member-recurring = 정기 방문자: 주간 일정에 따라 열 수 있음
invite-member-invite = 초대하기

## A lock
lock-online = 온라인
lock-offline = 오프라인
lock-last-seen = 마지막 연결 { $when }
lock-unlock = 열기
lock-lock = 잠그기
lock-offline-text = 도어락이 오프라인이라 여기서 열 수 없습니다. 비밀번호와 게스트 코드는 키패드에서 계속 작동합니다.
lock-you-are = 내 권한: { $level } · 시간대 { $zone }
lock-my-access = 내 권한과 비밀번호
lock-latest = 최근 활동
lock-capacity = 게스트 키 { $keys }/{ $max_keys }개 · 구성원 { $members }/{ $max_members }명
bolt-locked = 잠김
bolt-unlocked = 열림
bolt-not-reported = 잠금 상태를 아직 받지 못했습니다
bolt-unknown-offline = 오프라인이라 잠금 상태를 알 수 없습니다

## My locks
locks-invitations-waiting = 기다리는 초대가 { $count }개 있습니다.
locks-none = 아직 구성원인 도어락이 없습니다.
locks-online = 온라인
locks-offline = 오프라인
locks-pair = 도어락 연결
locks-setup-code = 도어락에 표시된 설정 코드
locks-name = 이름
locks-name-placeholder = 현관문
locks-time-zone = 도어락의 시간대
locks-time-zone-help = Asia/Seoul 같은 시간대. 브라우저의 시간대가 제안됩니다.
locks-pair-button = 연결

## A member
member-title = 구성원
member-phone = 전화번호
member-level = 권한
member-schedule = 일정
member-pin = 비밀번호
member-pin-set = 설정됨
member-pin-not-set = 설정 안 됨
member-on-lock = 도어락 반영
member-synced = 반영됨
member-pending = 대기 중
member-pending-long = 대기 중: 도어락이 최근 변경을 아직 받지 않았습니다
member-access = 권한
member-keypad-pin = 키패드 비밀번호
member-new-pin = 새 비밀번호(6~8자리 숫자)
member-set-pin = 비밀번호 설정
member-leave-heading = 이 도어락에서 나가기
member-leave-confirm = 네, 나가겠습니다
member-remove-confirm = 네, { $name }님을 삭제합니다
member-leave = 나가기

## Notifications
notifications-title = 알림
notifications-intro = 이 도어락에 관한 문자 알림. 종류마다 10분에 한 번까지 보냅니다.
notifications-guest-arrived = 게스트 도착(게스트 키 첫 사용)
notifications-lockout = 잘못된 코드가 반복되어 키패드가 잠김
notifications-offline = 도어락이 10분 넘게 오프라인
notifications-calendar = 도어락의 숙박 예약 캘린더를 읽을 수 없음

## Offline guest keys
offline-title = 오프라인 게스트 키
offline-heading = 이 기기의 오프라인 게스트 키
offline-what = 하는 일
offline-what-text = 오프라인 게스트 키를 켜면 이 휴대폰이나 컴퓨터가 서버에 연결할 수 없을 때도 { $lock }의 게스트 키를 만들 수 있습니다. 평소처럼 게스트 키 만들기를 열면 앱이 기기에서 코드를 만듭니다. 도어락은 처음 보는 코드라도 받아들입니다.
offline-point-window = 이런 키는 최대 7일 기간의 코드입니다. 기기는 문자를 보낼 수 없으니 직접 공유하세요(앱이 휴대폰의 공유 기능이나 문자를 제안합니다).
offline-point-record = 기기가 다시 온라인이 되면 앱이 서버에 키를 기록하여 사용자 관리와 활동 기록에 나타납니다.
offline-point-lost = 이 기기를 가진 사람은 누구나 이 도어락의 키를 만들 수 있습니다. 잃어버렸다면 아래에서 발급자를 취소하세요. 기록 여부와 관계없이 이 기기가 만든 모든 코드가 도어락의 다음 동기화 때부터 작동하지 않습니다.
offline-this-device = 이 기기
offline-needs-js = 오프라인 게스트 키에는 자바스크립트와 이 브라우저의 저장 공간이 필요합니다.
offline-device-name = 이 기기의 이름
offline-device-placeholder = 내 휴대폰
offline-turn-on = 오프라인 게스트 키 켜기
offline-devices = 키를 만들 수 있는 기기
offline-since = { $when }부터
offline-revoke-confirm = { $name }을(를) 취소할까요? 이 기기가 만든 모든 게스트 키가 도어락의 다음 동기화 때부터 작동하지 않습니다.
offline-revoke = { $name } 취소
offline-notice-revoked = 이 기기의 발급자를 취소했습니다. 이 기기가 만든 코드는 도어락의 다음 동기화 때부터 작동하지 않습니다.
offline-notice-on = 이 기기에서 오프라인 게스트 키가 켜졌습니다.

## Profile
profile-welcome = 환영합니다
profile-first-heading = 환영합니다! 이름이 무엇인가요?
profile-first-text = 도어락을 함께 쓰는 사람들이 앱과 활동 기록에서 이 이름을 봅니다.
profile-text = 도어락을 함께 쓰는 사람들에게 보이는 이름입니다.
profile-name = 이름
profile-phone = 전화번호: { $phone }
profile-language = 언어
profile-language-browser = 브라우저 설정에 따름

## Schedules
schedule-legend = 일정(정기 방문자), 도어락의 현지 시간
schedule-from = 시작 시각
schedule-to = 종료 시각
schedule-valid-from = 유효 시작일(선택)
schedule-valid-until = 유효 종료일(선택)

## Sign in
sign-in-title = 로그인
sign-in-sent-before = {""}
sign-in-sent-after = (으)로 6자리 코드를 보냈습니다.
sign-in-code = 문자로 받은 코드
sign-in-new-code = 새 코드 받기
sign-in-other-number = 다른 전화번호 사용
sign-in-intro = 휴대폰 번호를 입력하세요. 로그인 코드를 문자로 보내 드립니다.
sign-in-phone-placeholder = 010 1234 5678 또는 +82 10 1234 5678
sign-in-send = 코드 받기
sign-in-wrong-code = 코드가 틀렸거나 만료되었습니다. 문자를 확인하거나 새 코드를 요청하세요.

## User Management
users-title = 사용자 관리
users-members = 구성원
users-pin-set = 비밀번호 설정됨
users-pin-not-set = 비밀번호 설정 안 됨
users-pending-invitations = 대기 중인 초대
users-expires = { $when } 만료
users-send-again = 다시 보내기
users-revoke-invitation-confirm = 이 초대를 취소할까요?
users-guest-keys = 게스트 키
users-one-time = 일회용
users-revoke-key-confirm = { $name }님의 게스트 키를 취소할까요? 도어락의 다음 동기화 때부터 코드가 작동하지 않습니다.
users-starts-working = { $when }부터 작동

## Domain messages by their key (src/web/i18n.rs `slug`)
dm-must-not-be-empty = 비워 둘 수 없습니다
dm-must-not-contain-control-characters = 제어 문자를 넣을 수 없습니다
dm-must-be-at-most-64-characters = 64자 이하로 입력하세요
dm-not-a-phone-number = 전화번호가 아닙니다
dm-not-a-valid-phone-number-for-its-country = 해당 국가의 올바른 전화번호가 아닙니다
dm-enter-a-phone-number-with-its-country-code-e-g-1-202-555-012 = 국가 번호와 함께 전화번호를 입력하세요(예: +82 10 1234 5678)
dm-include-the-country-code-starting-with-e-g-1-202-555-0123 = +로 시작하는 국가 번호를 넣으세요(예: +82 10 1234 5678)
dm-too-easy-to-guess-avoid-repeated-digits-and-sequences = 너무 쉽게 추측할 수 있습니다. 반복되거나 연속된 숫자는 피하세요
dm-use-6-to-8-digits = 6~8자리 숫자를 입력하세요
dm-use-digits-only = 숫자만 입력하세요
dm-use-an-iana-time-zone-name-such-as-europe-berlin = Asia/Seoul 같은 IANA 시간대 이름을 입력하세요
dm-use-an-instant-like-2027-07-01t15-00-00-02-00-or-a-local-tim = 2027-07-01T15:00 같은 날짜와 시각을 입력하세요
dm-this-local-time-does-not-exist-at-the-lock = 도어락 시간대에 존재하지 않는 시각입니다
dm-is-in-the-past = 이미 지난 시각입니다
dm-must-be-after-starts-at = 시작 시각보다 뒤여야 합니다
dm-must-be-after-the-key-s-start = 키의 시작 시각보다 뒤여야 합니다
dm-must-be-within-a-year-from-now = 지금부터 1년 이내여야 합니다
dm-a-guest-key-lasts-at-most-90-days-from-its-start = 게스트 키는 시작부터 최대 90일까지 유효합니다
dm-a-guest-key-lasts-at-most-90-days = 게스트 키는 최대 90일까지 유효합니다
dm-confirm-the-precautions-before-creating-a-guest-key = 게스트 키를 만들기 전에 주의 사항을 확인하세요
dm-enter-the-6-digits-from-the-sms = 문자로 받은 6자리 숫자를 입력하세요
dm-enter-the-digits-of-the-setup-code-the-lock-shows = 도어락에 표시된 설정 코드의 숫자를 입력하세요
dm-a-guest-code-has-12-digits = 게스트 코드는 12자리입니다
dm-a-recurring-guest-needs-a-schedule = 정기 방문자에게는 일정이 필요합니다
dm-only-a-recurring-guest-has-a-schedule = 일정은 정기 방문자에게만 있습니다
dm-choose-at-least-one-day = 요일을 하나 이상 고르세요
dm-give-at-least-one-window = 시간대를 하나 이상 지정하세요
dm-must-differ-from-from = 시작 시각과 달라야 합니다
dm-must-not-be-before-valid-from = 유효 시작일보다 앞설 수 없습니다
dm-use-hh-mm-between-00-00-and-23-59 = 00:00~23:59 사이의 시:분으로 입력하세요
dm-use-hh-mm-between-00-00-and-24-00 = 00:00~24:00 사이의 시:분으로 입력하세요
dm-use-a-date-like-2027-01-31 = 2027-01-31 같은 날짜를 입력하세요
dm-use-opened-refused-or-changes = 열림, 거부됨, 변경 중 하나를 고르세요
dm-this-day-does-not-exist-at-the-lock = 도어락 시간대에 없는 날짜입니다
dm-this-device-s-issuer-did-not-make-this-code-for-this-window = 이 기기의 발급자가 이 시간대에 만든 코드가 아닙니다
dm-no-unpaired-lock-answered-with-this-setup-code-check-the-cod = 이 설정 코드에 응답한 미연결 도어락이 없습니다. 코드와 도어락의 온라인 상태를 확인하세요
dm-the-lock-did-not-finish-pairing-in-time-it-returns-to-pairin = 도어락이 제시간에 연결을 마치지 못했습니다. 새 설정 코드가 표시되면 그 코드로 다시 시도하세요
dm-this-idempotency-key-was-used-for-a-different-request-send-a = 이 요청 키는 다른 요청에 쓰였습니다. 새 키로 보내세요
dm-only-an-admin-of-this-lock-may-do-this = 이 도어락의 관리자만 할 수 있습니다
dm-only-an-admin-may-remove-other-members = 관리자만 다른 구성원을 삭제할 수 있습니다
dm-outside-your-schedule = 허용된 일정 밖입니다
dm-the-mqtt-broker-is-not-reachable = 도어락 연결 서버에 닿을 수 없습니다
dm-the-pin-could-not-be-set-just-now-try-again = 지금은 비밀번호를 설정할 수 없습니다. 다시 시도하세요
dm-the-database-is-unavailable-try-again = 데이터베이스를 쓸 수 없습니다. 다시 시도하세요
dm-the-guest-key-is-already-revoked = 게스트 키가 이미 취소되었습니다
dm-the-guest-key-is-revoked = 게스트 키가 취소되었습니다
dm-the-invitation-has-expired-ask-for-a-new-one = 초대가 만료되었습니다. 새 초대를 요청하세요
dm-the-invitation-is-no-longer-pending = 이미 처리된 초대입니다
dm-the-issuer-is-already-deleted = 발급자가 이미 삭제되었습니다
dm-the-lock-did-not-answer-in-time = 도어락이 제시간에 응답하지 않았습니다
dm-the-one-time-guest-key-was-already-used = 일회용 게스트 키는 이미 사용되었습니다
dm-this-gateway-cannot-lock-remotely = 이 게이트웨이는 원격으로 잠글 수 없습니다
dm-this-lock-already-has-7-device-issuers-delete-one-first = 이 도어락에는 이미 기기 발급자가 7개 있습니다. 먼저 하나를 삭제하세요
dm-you-are-already-a-member-of-this-lock = 이미 이 도어락의 구성원입니다
dm-must-be-en-ko-or-empty-the-browser-s = en, ko 또는 빈 값(브라우저 설정)이어야 합니다

## Activity descriptions (src/web/i18n.rs EVENT_TEXTS)
ev-key-created-once-offline = 게스트 키 "{ $name }" (일회용) { $from } – { $to }, "{ $device }"에서 오프라인으로 만듦
ev-key-created-offline = 게스트 키 "{ $name }" { $from } – { $to }, "{ $device }"에서 오프라인으로 만듦
ev-key-created-once = 게스트 키 "{ $name }" (일회용) { $from } – { $to }
ev-key-created = 게스트 키 "{ $name }" { $from } – { $to }
ev-key-from-calendar-new-code = 캘린더 "{ $calendar }"의 게스트 키 "{ $name }" { $from } – { $to } (새 코드)
ev-key-from-calendar = 캘린더 "{ $calendar }"의 게스트 키 "{ $name }" { $from } – { $to }
ev-key-moved = 게스트 키 "{ $name }"이(가) 예약과 함께 { $from }에서 { $to }(으)로 옮겨짐. 코드는 그대로
ev-issuer-created = "{ $device }"의 게스트 코드 발급자(슬롯 { $slot })
ev-issuer-revoked = 게스트 코드 발급자 "{ $device }" 삭제
ev-key-extended = 게스트 키 "{ $name }" 종료 변경: { $to }(이전 { $from }). 코드는 그대로
ev-key-extended-new-code = 게스트 키 "{ $name }" 종료 변경: { $to }(이전 { $from }). 새 코드, 이전 코드는 취소됨
ev-key-revoked-calendar-deleted = 게스트 키 "{ $name }" 취소: 캘린더 "{ $calendar }"이(가) 삭제됨
ev-calendar-deleted = 캘린더 "{ $name }" 삭제. 예정된 게스트 키 { $count }개 취소
dm-the-reservation-was-cancelled = 예약이 취소되었습니다
dm-the-stay-was-shortened-and-is-over = 숙박이 단축되어 끝났습니다
ev-lock-renamed = 이름을 "{ $name }"(으)로 변경
ev-lock-time-zone = 시간대 { $zone }
ev-lock-lockout = 잘못된 입력 { $limit }회 후 { $seconds }초 동안 키패드 잠금
ev-key-revoked-why = 게스트 키 "{ $name }" 취소: { $why }
ev-key-revoked = 게스트 키 "{ $name }" 취소
ev-key-replaced-why = 게스트 키 "{ $name }" 교체: { $why }
ev-key-resent = 게스트 키 "{ $name }" 문자 다시 보냄
ev-invited = { $who }님을 { $level }(으)로 초대
ev-invitation-revoked = { $who }님의 초대 취소
ev-invitation-resent = { $who }님에게 초대 문자 다시 보냄
ev-accepted = { $level }(으)로 초대 수락
ev-declined = 초대 거절
ev-paired = "{ $name }"(으)로 연결
ev-schedule-changed = 일정 변경
ev-level-changed = 권한 { $from_level } → { $level }
ev-left = 도어락에서 나감
ev-removed = 삭제됨
ev-pin-cleared = 키패드 비밀번호 해제: 다른 구성원이 같은 비밀번호를 골랐습니다
ev-pin-set = 키패드 비밀번호 설정
ev-calendar-added = 캘린더 "{ $name }" 추가(체크인 { $in }, 체크아웃 { $out })
ev-calendar-failing = 캘린더 "{ $name }"을(를) 읽지 못해 아무것도 바뀌지 않았습니다
ev-pin = 비밀번호
ev-guest-code = 게스트 코드
ev-remote-unlock = 원격 열기
ev-times-in-a-row = 연속 { $count }회
ev-keypad-locked = { $until }까지 키패드 잠김

## Event kinds, methods and refusal reasons
event-kind-access = 출입
event-kind-lockout = 키패드 잠김
event-kind-lock-time-lost = 도어락 시각 잃음
event-kind-calendar-added = 캘린더 추가
event-kind-calendar-deleted = 캘린더 삭제
event-kind-calendar-failing = 캘린더 오류
event-kind-guest-key-created = 게스트 키 생성
event-kind-guest-key-revoked = 게스트 키 취소
event-kind-guest-key-changed = 게스트 키 변경
event-kind-guest-key-resent = 게스트 키 다시 보냄
event-kind-invitation-sent = 초대 보냄
event-kind-invitation-revoked = 초대 취소
event-kind-invitation-resent = 초대 다시 보냄
event-kind-invitation-declined = 초대 거절
event-kind-member-added = 구성원 추가
event-kind-member-changed = 구성원 변경
event-kind-member-left = 구성원 나감
event-kind-member-removed = 구성원 삭제
event-kind-pin-set = 비밀번호 설정
event-kind-pin-cleared = 비밀번호 해제
event-kind-lock-paired = 도어락 연결
event-kind-lock-changed = 도어락 변경
event-kind-issuer-created = 오프라인 발급자 추가
event-kind-issuer-revoked = 오프라인 발급자 취소
event-kind-unlock = 열기
event-kind-lock = 잠금
event-method-keypad = 키패드
event-method-remote = 원격
event-reason-unknown-credential = 등록되지 않은 코드
event-reason-disabled = 사용 중지됨
event-reason-outside-schedule = 일정 밖
event-reason-not-yet-valid = 아직 유효하지 않음
event-reason-expired = 만료됨
event-reason-already-used = 이미 사용됨
event-reason-revoked = 취소됨
event-reason-locked-out = 잠김 상태
event-reason-time-unknown = 시각 모름
event-reason-used-table-full = 사용 기록 가득 참
event-reason-not-synced = 동기화 안 됨
