# 스크립트의 문구(static/app.js, static/offline.js, static/offline.html). en/js.ftl과 같은 id.

js-choose-contacts = 연락처에서 고르기
js-offline-on = 이 기기에서 오프라인 게스트 키가 켜져 있습니다. 연결이 없으면 게스트 키 만들기가 여기서 코드를 만듭니다.
js-this-device = (이 기기)
js-offline-off = 이 기기에서 오프라인 게스트 키가 꺼져 있습니다.
js-refused = 서버가 거부한 오프라인 게스트 키: { $list }. 이 기기의 발급자를 취소할 때까지 그 코드로 도어락을 열 수 있습니다.
js-create-for = { $lock } 게스트 키 만들기
js-give-name = 게스트 이름을 입력하세요.
js-give-times = 키의 시작과 종료 시각을 입력하세요.
js-end-after-start = 종료 시각은 시작 시각보다 뒤여야 합니다.
js-end-past = 종료 시각이 이미 지났습니다.
js-too-long = 오프라인 게스트 키는 최대 7일까지입니다. 더 긴 키는 연결되었을 때 만드세요.
js-not-made = 키를 만들지 못했습니다: { $error }
js-instructions = 도어락 키패드에 { $code }을(를) 입력한 뒤 #을 누르세요.
js-starts-working = { $start }부터 { $end }까지 작동합니다({ $zone }). 그 전에는 도어락이 거부합니다.
js-works-now = 지금부터 { $end }까지 작동합니다({ $zone }).
js-works-once = 한 번만 쓸 수 있습니다.
js-share-text = "{ $lock }"의 게스트 키: { $text }

## The offline page (static/offline.html)
js-offline-title = 연결 없음
js-offline-heading = 서버에 연결되지 않았습니다
js-offline-warning = Latchkey가 서버에 닿을 수 없어, 이 기기 혼자 할 수 있는 일만 보여 줍니다.
js-retry = 다시 시도
js-choose-heading = 오프라인으로 게스트 키 만들기
js-choose-text = 이 기기가 게스트 키를 만들 수 있는 도어락:
js-none-text = 이 기기에서 오프라인 게스트 키가 켜져 있지 않습니다. 관리자가 연결된 상태에서 도어락 페이지의 "오프라인 게스트 키"에서 켤 수 있습니다.
js-mint-before = {""}
js-mint-after = 게스트 키 만들기(오프라인)
js-mint-text = 이 기기의 발급자 파일로 만듭니다. 문자는 보내지 않으니 코드를 직접 공유하세요. 기기가 다시 온라인이 되면 키가 서버에 기록되어 다른 키처럼 표시됩니다.
js-guest-name = 게스트 이름
js-times-before = 시각은 도어락의 현지 시간(
js-times-after = )입니다. 오프라인 키는 최대 7일까지입니다.
js-starts = 시작
js-ends = 종료
js-one-time = 일회용: 코드로 한 번만 열 수 있습니다
js-create = 게스트 키 만들기
js-made-before = {""}
js-made-after = 님의 게스트 키
js-code-label = 게스트 코드
js-share = 코드 공유
js-text = 코드 문자로 보내기
js-not-yet = 아직 서버에 없습니다. 이 기기가 다시 온라인이 되면 기록됩니다.
js-another = 하나 더 만들기
js-waiting = 기록 대기 중
