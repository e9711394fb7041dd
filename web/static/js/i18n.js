// The dashboard's words in English and Korean. A user's language comes from its account (`lang`: eng, kor;
// chn falls back to English) unless it picked one in the header, which is remembered in this browser.

const STRINGS = {
  eng: {
    "app.skip": "Skip to content",
    "app.language": "Language",
    "app.logout": "Log out",
    "app.loading": "Loading…",
    "app.error": "Error",
    "app.none": "Nothing here yet.",
    "app.not_allowed": "This page is not available to your role.",
    "app.search": "Search",
    "app.save": "Save",
    "app.yes": "yes",
    "app.no": "no",
    "login.title": "Log in",
    "login.id": "Login ID",
    "login.password": "Password",
    "login.submit": "Log in",
    "login.failed": "The login ID or the password is not correct.",
    "register.title": "Register",
    "register.name": "Name",
    "register.email": "E-mail",
    "register.tenant": "Organisation (tenant)",
    "register.submit": "Send registration",
    "register.sent": "Registration sent; an administrator will approve it.",
    "nav.meters": "Meters",
    "nav.exchanges": "Exchanges",
    "nav.dead_letters": "Dead letters",
    "nav.admin": "Administration",
    "meters.title": "Meter fleet",
    "meters.uid": "Device",
    "meters.customer": "Customer",
    "meters.last_count": "Last reading",
    "meters.battery": "Battery",
    "meters.last_access": "Last access",
    "meters.late": "Reporting late",
    "meters.events": "Events",
    "meters.readings": "Hourly readings",
    "meters.daily": "Daily usage",
    "meters.monthly": "Monthly usage",
    "meters.time": "Time",
    "meters.count": "Count",
    "meters.usage": "Usage",
    "meters.event_type": "Event",
    "meters.event_status": "Status",
    "exchanges.title": "Received exchanges",
    "exchanges.received": "Received (hex)",
    "exchanges.decoded": "Decoded fields",
    "exchanges.sent": "Sent (hex)",
    "exchanges.at": "At",
    "dead.title": "Dead letters",
    "dead.listener": "Listener",
    "dead.error": "Error",
    "dead.path": "Error path",
    "dead.data": "Bytes (hex)",
    "admin.users": "Users",
    "admin.registrations": "Pending registrations",
    "admin.subscribers": "Subscribers",
    "admin.devices": "Device release and binding",
    "admin.tokens": "API tokens",
    "admin.login": "Login ID",
    "admin.name": "Name",
    "admin.email": "E-mail",
    "admin.role": "Role",
    "admin.lang": "Language",
    "admin.enabled": "Enabled",
    "admin.password": "Password",
    "admin.add_user": "Add user",
    "admin.approve": "Approve",
    "admin.reject": "Reject",
    "admin.approved": "Approved: {login}",
    "admin.rejected": "Rejected: {login}",
    "admin.customer_no": "Customer number",
    "admin.meter_id": "Meter ID",
    "admin.bound": "Bound device",
    "admin.csv": "CSV file of subscribers (header row)",
    "admin.import": "Import",
    "admin.imported": "Imported {imported}, duplicated {duplicated}, failed {failed}",
    "admin.row": "Row",
    "admin.result": "Result",
    "admin.uids": "Device UIDs (one per line)",
    "admin.installer": "Installer login ID",
    "admin.release": "Release",
    "admin.bind_customer": "Subscriber customer number",
    "admin.bind_device": "Device UID",
    "admin.bind": "Bind",
    "admin.unbind": "Unbind",
    "admin.token_name": "Token name",
    "admin.scopes": "Scopes",
    "admin.create_token": "Create token",
    "admin.token_secret": "The token (shown once): {token}",
    "admin.revoke": "Revoke",
    "admin.created": "Created",
  },
  kor: {
    "app.skip": "본문으로 건너뛰기",
    "app.language": "언어",
    "app.logout": "로그아웃",
    "app.loading": "불러오는 중…",
    "app.error": "오류",
    "app.none": "아직 내용이 없습니다.",
    "app.not_allowed": "이 페이지는 사용자의 역할로 볼 수 없습니다.",
    "app.search": "검색",
    "app.save": "저장",
    "app.yes": "예",
    "app.no": "아니요",
    "login.title": "로그인",
    "login.id": "아이디",
    "login.password": "비밀번호",
    "login.submit": "로그인",
    "login.failed": "아이디 또는 비밀번호가 올바르지 않습니다.",
    "register.title": "가입 신청",
    "register.name": "이름",
    "register.email": "이메일",
    "register.tenant": "기관 (테넌트)",
    "register.submit": "가입 신청 보내기",
    "register.sent": "가입 신청을 보냈습니다. 관리자가 승인합니다.",
    "nav.meters": "계량기",
    "nav.exchanges": "수신 기록",
    "nav.dead_letters": "해석 실패 데이터",
    "nav.admin": "관리",
    "meters.title": "계량기 목록",
    "meters.uid": "장치",
    "meters.customer": "고객",
    "meters.last_count": "최근 검침값",
    "meters.battery": "배터리",
    "meters.last_access": "최근 접속",
    "meters.late": "보고 지연",
    "meters.events": "이벤트",
    "meters.readings": "시간별 검침",
    "meters.daily": "일별 사용량",
    "meters.monthly": "월별 사용량",
    "meters.time": "시각",
    "meters.count": "검침값",
    "meters.usage": "사용량",
    "meters.event_type": "이벤트",
    "meters.event_status": "상태",
    "exchanges.title": "수신 기록",
    "exchanges.received": "수신 (16진수)",
    "exchanges.decoded": "해석된 필드",
    "exchanges.sent": "송신 (16진수)",
    "exchanges.at": "시각",
    "dead.title": "해석 실패 데이터",
    "dead.listener": "리스너",
    "dead.error": "오류",
    "dead.path": "오류 위치",
    "dead.data": "바이트 (16진수)",
    "admin.users": "사용자",
    "admin.registrations": "승인 대기 가입 신청",
    "admin.subscribers": "가입자",
    "admin.devices": "장치 출고 및 연결",
    "admin.tokens": "API 토큰",
    "admin.login": "아이디",
    "admin.name": "이름",
    "admin.email": "이메일",
    "admin.role": "역할",
    "admin.lang": "언어",
    "admin.enabled": "사용",
    "admin.password": "비밀번호",
    "admin.add_user": "사용자 추가",
    "admin.approve": "승인",
    "admin.reject": "거절",
    "admin.approved": "승인됨: {login}",
    "admin.rejected": "거절됨: {login}",
    "admin.customer_no": "고객 번호",
    "admin.meter_id": "계량기 ID",
    "admin.bound": "연결된 장치",
    "admin.csv": "가입자 CSV 파일 (머리글 행 포함)",
    "admin.import": "가져오기",
    "admin.imported": "가져옴 {imported}, 중복 {duplicated}, 실패 {failed}",
    "admin.row": "행",
    "admin.result": "결과",
    "admin.uids": "장치 UID (한 줄에 하나)",
    "admin.installer": "설치자 아이디",
    "admin.release": "출고",
    "admin.bind_customer": "가입자 고객 번호",
    "admin.bind_device": "장치 UID",
    "admin.bind": "연결",
    "admin.unbind": "연결 해제",
    "admin.token_name": "토큰 이름",
    "admin.scopes": "권한 범위",
    "admin.create_token": "토큰 만들기",
    "admin.token_secret": "토큰 (한 번만 표시됩니다): {token}",
    "admin.revoke": "폐기",
    "admin.created": "생성",
  },
};

export const LANGUAGES = ["eng", "kor"];
const STORAGE_KEY = "specgate.language";
let current = "eng";

/** Adds a module's words (`{eng: {...}, kor: {...}}`); a key missing in Korean is shown in English. */
export function addStrings(tables) {
  for (const [lang, table] of Object.entries(tables)) {
    Object.assign((STRINGS[lang] ??= {}), table);
  }
}

export function t(key, values = {}) {
  const text = STRINGS[current]?.[key] ?? STRINGS.eng[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

/** The label of a plugin module's navigation entry: `{eng: "...", kor: "..."}`. */
export function pick(labels) {
  return labels?.[current] ?? labels?.eng ?? "";
}

export function language() {
  return current;
}

/** The language to show: the one picked in this browser, else the account's (chn and others: English). */
export function chooseLanguage(accountLang) {
  const picked = localStorage.getItem(STORAGE_KEY);
  const wanted = picked ?? accountLang;
  current = LANGUAGES.includes(wanted) ? wanted : "eng";
  document.documentElement.lang = current === "kor" ? "ko" : "en";
  return current;
}

export function pickLanguage(lang) {
  localStorage.setItem(STORAGE_KEY, lang);
  return chooseLanguage(lang);
}
