package sipparse_test

import (
	"testing"

	"github.com/sipban/sipban/sipparse"
)

// torture lists what Parse reads from each RFC 4475 message in
// testdata/torture, in the order of the RFC's sections. The files are the
// RFC's bit-exact archive (section 4.2); names are the archive's.
var torture = []struct {
	file string
	want view
}{
	// 3.1.1 valid messages
	// 3.1.1.1 short tortuous INVITE: folding, odd white space, compact forms.
	{"wsinv.dat", view{Method: "INVITE", URI: "sip:vivekg@chair-dnrc.example.com", Via: "UDP 192.0.2.2 390skdjuw", From: "\"J Rosenberg \\\\\\\"\" sip:jdrosen@example.com;tag=98asjd8", To: "sip:vivekg@chair-dnrc.example.com;tag=1918181833n", Contact: "\"Quoted string \\\"\\\"\" sip:jdrosen@example.com", CallID: "wsinv.ndaksdj@192.0.2.1", CSeq: "9 INVITE", ContentLength: 150, Body: 150, Len: 1001}},
	// 3.1.1.2 wide range of valid characters.
	{"intmeth.dat", view{Method: "!interesting-Method0123456789_*+`.%indeed'~", URI: "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com", Via: "TCP host1.example.com z9hG4bK-.!%66*_+`'~", From: "\"token1~` token2'+_ token3*%!.-\" sip:mundane@example.com;tag=_token~1'+`*%!-.", To: "\"BEL:\\\a NUL:\\\x00 DEL:\\\x7f\" sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com", CallID: "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{", CSeq: "139122385 !interesting-Method0123456789_*+`.%indeed'~", ContentLength: 0, Len: 641}},
	// 3.1.1.3 valid use of the % escaping mechanism.
	{"esc01.dat", view{Method: "INVITE", URI: "sip:sips%3Auser%40example.com@example.net", Via: "UDP host5.example.net z9hG4bKkdjuw", From: "sip:I%20have%20spaces@example.net;tag=938", To: "sip:%75se%72@example.com", Contact: "sip:cal%6Cer@host5.example.net", CallID: "esc01.239409asdfakjkn23onasd0-3234", CSeq: "234234 INVITE", ContentLength: 150, Body: 150, Len: 543}},
	// 3.1.1.4 escaped nulls in URIs.
	{"escnull.dat", view{Method: "REGISTER", URI: "sip:example.com", Via: "UDP host5.example.com z9hG4bKkdjuw", From: "sip:null-%00-null@example.com;tag=839923423", To: "sip:null-%00-null@example.com", Contact: "sip:%00@host5.example.com", CallID: "escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd", CSeq: "14398234 REGISTER", ContentLength: 0, Len: 359}},
	// 3.1.1.5 use of % when it is not an escape; C%6Fntact is another header.
	{"esc02.dat", view{Method: "RE%47IST%45R", URI: "sip:registrar.example.com", Via: "TCP host.example.com z9hG4bK209%fzsnel234", From: "\"%Z%45\" sip:resource@example.com;tag=f232jadfj23", To: "\"%Z%45\" sip:resource@example.com", Contact: "sip:alias1@host1.example.com", CallID: "esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf", CSeq: "29344 RE%47IST%45R", ContentLength: 0, Len: 439}},
	// 3.1.1.6 message with no LWS between display name and <.
	{"lwsdisp.dat", view{Method: "OPTIONS", URI: "sip:user@example.com", Via: "UDP funky.example.com z9hG4bKkdjuw", From: "\"caller\" sip:caller@example.com;tag=323", To: "sip:user@example.com", CallID: "lwsdisp.1234abcd@funky.example.com", CSeq: "60 OPTIONS", ContentLength: 0, Len: 255}},
	// 3.1.1.7 long values in header fields; 34 Via values, the top one first.
	{"longreq.dat", view{Method: "INVITE", URI: "sip:user@example.com", Via: "TCP sip33.example.com ", From: "sip:amazinglylongcallernameamazinglylongcallernameamazinglylongcallernameamazinglylongcallernameamazinglylongcallername@example.net;tag=12982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982982424", To: "\"I have a user name of extremeextremeextremeextremeextremeextremeextremeextremeextremeextreme proportion\" sip:user@example.com:6000", Contact: "sip:amazinglylongcallernameamazinglylongcallernameamazinglylongcallernameamazinglylongcallernameamazinglylongcallername@host5.example.net", CallID: "longreq.onereallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallyreallylongcallid", CSeq: "3882340 INVITE", ContentLength: 150, Body: 150, Len: 3515}},
	// 3.1.1.8 extra trailing octets: a second request; Len ends the first.
	{"dblreq.dat", view{Method: "REGISTER", URI: "sip:example.com", Via: "UDP 192.0.2.125 z9hG4bKkdjuw23492", From: "sip:j.user@example.com;tag=43251j3j324", To: "sip:j.user@example.com", Contact: "sip:j.user@host.example.com", CallID: "dblreq.0ha0isndaksdj99sdfafnl3lk233412", CSeq: "8 REGISTER", ContentLength: 0, Len: 300}},
	// 3.1.1.9 semicolon-separated parameters in URI user part.
	{"semiuri.dat", view{Method: "OPTIONS", URI: "sip:user;par=u%40example.net@example.com", Via: "UDP 192.0.2.1 z9hG4bKkdjuw", From: "sip:caller@example.org;tag=33242", To: "sip:j_user@example.com", CallID: "semiuri.0ha0isndaksdj", CSeq: "8 OPTIONS", ContentLength: 0, Len: 380}},
	// 3.1.1.10 varied and unknown transport types.
	{"transports.dat", view{Method: "OPTIONS", URI: "sip:user@example.com", Via: "UDP t1.example.com z9hG4bKkdjuw", From: "sip:caller@example.com;tag=323", To: "sip:user@example.com", CallID: "transports.kijh4akdnaqjkwendsasfdj", CSeq: "60 OPTIONS", ContentLength: 0, Len: 503}},
	// 3.1.1.11 multipart MIME message with a binary part.
	{"mpart01.dat", view{Method: "MESSAGE", URI: "sip:kumiko@example.org", Via: "UDP 127.0.0.1:5070 z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-", From: "sip:fluffy@example.com;tag=2fb0dcc9", To: "sip:kumiko@example.org", Contact: "sip:fluffy@127.0.0.1:5070", CallID: "3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..", CSeq: "1 MESSAGE", ContentLength: 553, Body: 553, Len: 1290, Extra: "rport ua=SIPimp.org/0.2.5 (curses)"}},
	// 3.1.1.12 unusual reason phrase (UTF-8).
	{"unreason.dat", view{Method: "200 = 2**3 * 5**2 но сто девяносто девять - простое", Via: "UDP 192.0.2.198 z9hG4bK1324923", From: "sip:user@example.com;tag=11141343", To: "sip:user@example.edu;tag=2229", Contact: "sip:user@host198.example.com", CallID: "unreason.1234ksdfak3j2erwedfsASdf", CSeq: "35 INVITE", ContentLength: 154, Body: 154, Len: 526}},
	// 3.1.1.13 empty reason phrase.
	{"noreason.dat", view{Method: "100 ", Via: "UDP 192.0.2.105 z9hG4bK2398ndaoe", From: "sip:user@example.com;tag=39ansfi3", To: "sip:user@example.edu;tag=902jndnke3", Contact: "sip:user@host105.example.com", CallID: "noreason.asndj203insdf99223ndf", CSeq: "35 INVITE", ContentLength: 0, Len: 274}},
	// 3.1.2 invalid messages
	// 3.1.2.1 extraneous header field separators: the Via is malformed.
	{"badinv01.dat", view{Err: "Malformed Via", Method: "INVITE", URI: "sip:user@example.com", From: "sip:caller@example.net;tag=134161461246", To: "sip:j.user@example.com", CallID: "badinv01.0ha0isndaksdjasdf3234nas", CSeq: "8 INVITE", ContentLength: 152, Body: 152, Len: 472}},
	// 3.1.2.2 Content-Length larger than message: truncated, headers read.
	{"clerr.dat", view{Err: "Truncated", Method: "INVITE", URI: "sip:user@example.com", Via: "UDP host5.example.com z9hG4bK-39234-23523", From: "sip:caller@example.net;tag=93942939o2", To: "sip:j.user@example.com", Contact: "sip:caller@hungry.example.net", CallID: "clerr.0ha0isndaksdjweiafasdk3", CSeq: "8 INVITE", ContentLength: 9999, Len: 0}},
	// 3.1.2.3 negative Content-Length: malformed, body taken as the rest.
	{"ncl.dat", view{Err: "Malformed Content-Length", Method: "INVITE", URI: "sip:user@example.com", Via: "UDP 192.0.2.53 z9hG4bKkdjuw", From: "sip:caller@example.net;tag=32394234", To: "sip:j.user@example.com", Contact: "sip:caller@example53.example.net", CallID: "ncl.0ha0isndaksdj2193423r542w35", CSeq: "0 INVITE", ContentLength: -1, Body: 152, Len: 486}},
	// 3.1.2.4 request scalar fields with overlarge values: CSeq overflows; Expires is clamped.
	{"scalar02.dat", view{Err: "Malformed CSeq", Method: "REGISTER", URI: "sip:example.com", Via: "TCP host129.example.com z9hG4bK342sdfoi3", From: "sip:user@example.com;tag=239232jh3", To: "sip:user@example.com", Contact: "sip:user@host129.example.com", CallID: "scalar02.23o0pd9vanlq3wnrlnewofjas9ui32", ContentLength: 0, Len: 476, Extra: "expires=2147483647"}},
	// 3.1.2.5 response scalar fields with overlarge values: CSeq overflows.
	{"scalarlg.dat", view{Err: "Malformed CSeq", Method: "503 Service Unavailable", Via: "TCP host129.example.com z9hG4bKzzxdiwo34sw", From: "sip:other@example.net;tag=2easdjfejw", To: "sip:user@example.com", CallID: "scalarlg.noase0of0234hn2qofoaf0232aewf2394r", ContentLength: 0, Len: 385, Extra: "received=192.0.2.129"}},
	// 3.1.2.6 unterminated quoted string in display name.
	{"quotbal.dat", view{Err: "Malformed To", Method: "INVITE", URI: "sip:user@example.com", Via: "UDP 192.0.2.59:5050 z9hG4bKkdjuw39234", From: "sip:caller@example.net;tag=93334", Contact: "sip:caller@host59.example.net", CallID: "quotbal.aksdj", CSeq: "8 INVITE", ContentLength: 152, Body: 152, Len: 485}},
	// 3.1.2.7 <> enclosing Request-URI.
	{"ltgtruri.dat", view{Err: "Malformed Request-URI", Method: "INVITE", Via: "UDP 192.0.2.5 ", From: "sip:caller@example.net;tag=39291", To: "sip:user@example.com", Contact: "sip:caller@host5.example.net", CallID: "ltgtruri.1@192.0.2.5", CSeq: "1 INVITE", ContentLength: 159, Body: 159, Len: 452}},
	// 3.1.2.8 malformed SIP Request-URI (embedded LWS).
	{"lwsruri.dat", view{Err: "Malformed Request-URI", Method: "INVITE", Via: "UDP 192.0.2.1:5060 z9hG4bKkdjuw2395", From: "sip:caller@example.net;tag=231413434", To: "sip:user@example.com;tag=3xfe-9921883-z9f", Contact: "sip:caller@host1.example.net", CallID: "lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423", CSeq: "2130706432 INVITE", ContentLength: 159, Body: 159, Len: 541}},
	// 3.1.2.9 multiple SP separating Request-Line elements.
	{"lwsstart.dat", view{Err: "Malformed Request-URI", Method: "INVITE", Via: "UDP host1.example.com z9hG4bKkdjuw3923", From: "sip:caller@example.net;tag=8814", To: "sip:user@example.com", Contact: "sip:caller@host1.example.net", CallID: "lwsstart.dfknq234oi243099adsdfnawe3@example.com", CSeq: "1893884 INVITE", ContentLength: 150, Body: 150, Len: 506}},
	// 3.1.2.10 SP characters at end of Request-Line: tolerated.
	{"trws.dat", view{Method: "OPTIONS", URI: "sip:remote-target@example.com", Via: "TCP host1.examle.com z9hG4bK299342093", From: "sip:local-resource@example.com;tag=329429089", To: "sip:remote-target@example.com", CallID: "trws.oicu34958239neffasdhr2345r", CSeq: "238923 OPTIONS", ContentLength: 0, Len: 327}},
	// 3.1.2.11 escaped headers in SIP Request-URI: not judged.
	{"escruri.dat", view{Method: "INVITE", URI: "sip:user@example.com", Via: "UDP host-of-the-hour.example.com z9hG4bKkdjuw", From: "sip:caller@example.net;tag=341518", To: "sip:user@example.com", Contact: "sip:caller@host39923.example.net", CallID: "escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5", CSeq: "149209342 INVITE", ContentLength: 150, Body: 150, Len: 550}},
	// 3.1.2.12 invalid time zone in Date header field: Date is not read.
	{"baddate.dat", view{Method: "INVITE", URI: "sip:user@example.com", Via: "UDP host.example.com z9hG4bKkdjuw", From: "sip:caller@example.net;tag=2234923", To: "sip:user@example.com", Contact: "sip:caller@host5.example.net", CallID: "baddate.239423mnsadf3j23lj42--sedfnm234", CSeq: "1392934 INVITE", ContentLength: 150, Body: 150, Len: 532}},
	// 3.1.2.13 failure to enclose name-addr URI in <>: tolerated, the URI ends at '?'.
	{"regbadct.dat", view{Method: "REGISTER", URI: "sip:example.com", Via: "UDP 135.180.130.133:5060 z9hG4bKkdjuw", From: "sip:user@example.com;tag=998332", To: "sip:user@example.com", Contact: "sip:user@example.com", CallID: "regbadct.k345asrl3fdbv@10.0.0.1", CSeq: "1 REGISTER", ContentLength: 0, Len: 307}},
	// 3.1.2.14 spaces within addr-spec: tolerated.
	{"badaspec.dat", view{Method: "OPTIONS", URI: "sip:user@example.org", Via: "UDP host4.example.com:5060 z9hG4bKkdju43234", From: "\"Bell, Alexander\" sip:a.g.bell@example.com;tag=433423", To: "\"Watson, Thomas\" sip:t.watson@example.org", CallID: "badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3", CSeq: "3923239 OPTIONS", ContentLength: 0, Len: 346}},
	// 3.1.2.15 non-token characters in display name: tolerated; the archive's copy lacks the blank line, so truncated.
	{"baddn.dat", view{Err: "Truncated", Method: "OPTIONS", URI: "sip:t.watson@example.org", Via: "UDP c.example.com:5060 z9hG4bKkdjuw", From: "\"Bell, Alexander\" sip:a.g.bell@example.com;tag=43", To: "\"Watson, Thomas\" sip:t.watson@example.org", CallID: "baddn.31415@c.example.com", CSeq: "3923239 OPTIONS", ContentLength: 0, Len: 0}},
	// 3.1.2.16 unknown protocol version: not SIP/2.0.
	{"badvers.dat", view{Err: "NotSIP", Method: "", ContentLength: -1, Len: 0}},
	// 3.1.2.17 start line and CSeq method mismatch: not judged.
	{"mismatch01.dat", view{Method: "OPTIONS", URI: "sip:user@example.com", Via: "UDP host.example.com z9hG4bKkdjuw", From: "sip:caller@example.net;tag=34525", To: "sip:j.user@example.com", CallID: "mismatch01.dj0234sxdfl3", CSeq: "8 INVITE", ContentLength: 0, Len: 236}},
	// 3.1.2.18 unknown method with CSeq method mismatch: not judged.
	{"mismatch02.dat", view{Method: "NEWMETHOD", URI: "sip:user@example.com", Via: "UDP host.example.net z9hG4bKkdjuw", From: "sip:caller@example.net;tag=34525", To: "sip:j.user@example.com", Contact: "sip:caller@host.example.net", CallID: "mismatch02.dj0234sxdfl3", CSeq: "8 INVITE", ContentLength: 138, Body: 138, Len: 449}},
	// 3.1.2.19 overlarge response code.
	{"bigcode.dat", view{Err: "Malformed Status-Code", Method: "0 better not break the receiver", Via: "UDP 192.0.2.105 z9hG4bK2398ndaoe", From: "sip:user@example.com;tag=39ansfi3", To: "sip:user@example.edu;tag=902jndnke3", Contact: "sip:user@host105.example.com", CallID: "bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i", CSeq: "353494 INVITE", ContentLength: 0, Len: 332}},
	// 3.2, 3.3, 3.4 transaction, application and backward-compatibility tests: valid syntax
	// 3.2.1 missing transaction identifier: branch is the bare magic cookie.
	{"badbranch.dat", view{Method: "OPTIONS", URI: "sip:user@example.com", Via: "UDP 192.0.2.1 z9hG4bK", From: "sip:caller@example.org;tag=33242", To: "sip:user@example.com", CallID: "badbranch.sadonfo23i420jv0as0derf3j3n", CSeq: "8 OPTIONS", ContentLength: 0, Len: 262}},
	// 3.3.1 missing required header fields: absent fields are left zero.
	{"insuf.dat", view{Method: "INVITE", URI: "sip:user@example.com", Via: "UDP 192.0.2.95 z9hG4bKkdj.insuf", CSeq: "193942 INVITE", ContentLength: 152, Body: 152, Len: 304}},
	// 3.3.2 Request-URI with unknown scheme.
	{"unkscm.dat", view{Method: "OPTIONS", URI: "nobodyKnowsThisScheme:totallyopaquecontent", Via: "TCP host9.example.com z9hG4bKkdjuw39234", From: "sip:caller@example.net;tag=384", To: "sip:user@example.com", CallID: "unkscm.nasdfasser0q239nwsdfasdkl34", CSeq: "3923423 OPTIONS", ContentLength: 0, Len: 291}},
	// 3.3.3 Request-URI with known but atypical scheme.
	{"novelsc.dat", view{Method: "OPTIONS", URI: "soap.beep://192.0.2.103:3002", Via: "TCP host9.example.com z9hG4bKkdjuw39234", From: "sip:caller@example.net;tag=384", To: "sip:user@example.com", CallID: "novelsc.asdfasser0q239nwsdfasdkl34", CSeq: "3923423 OPTIONS", ContentLength: 0, Len: 277}},
	// 3.3.4 unknown URI schemes in header fields.
	{"unksm2.dat", view{Method: "REGISTER", URI: "sip:example.com", Via: "UDP 192.0.2.21:5060 z9hG4bKkdjuw", From: "http://www.example.com;tag=3234233", To: "isbn:2983792873", Contact: "name:John_Smith", CallID: "unksm2.daksdj@hyphenated-host.example.com", CSeq: "234902 REGISTER", ContentLength: 0, Len: 282}},
	// 3.3.5 proxy-require and require.
	{"bext01.dat", view{Method: "OPTIONS", URI: "sip:user@example.com", Via: "TLS fold-and-staple.example.com z9hG4bKkdjuw", From: "sip:caller@example.net;tag=242etr", To: "sip:j_user@example.com", CallID: "bext01.0ha0isndaksdj", CSeq: "8 OPTIONS", ContentLength: 0, Len: 381}},
	// 3.3.6 unknown Content-Type.
	{"invut.dat", view{Method: "INVITE", URI: "sip:user@example.com", Via: "UDP somehost.example.com z9hG4bKkdjuw", From: "sip:caller@example.net;tag=8392034", To: "sip:j.user@example.com", Contact: "sip:caller@host5.example.net", CallID: "invut.0ha0isndaksdjadsfij34n23d", CSeq: "235448 INVITE", ContentLength: 40, Body: 40, Len: 391}},
	// 3.3.7 unknown authorization scheme: only the scheme is read.
	{"regaut01.dat", view{Method: "REGISTER", URI: "sip:example.com", Via: "TCP 192.0.2.253 z9hG4bKkdjuw", From: "sip:j.user@example.com;tag=87321hj23128", To: "sip:j.user@example.com", CallID: "regaut01.0ha0isndaksdj", CSeq: "9338 REGISTER", ContentLength: 0, Len: 304, Extra: "auth=NoOneKnowsThisScheme//"}},
	// 3.3.8 multiple values in single value required fields: the first repeat found is reported.
	{"multi01.dat", view{Err: "Malformed CSeq", Method: "INVITE", URI: "sip:user@company.com", Via: "UDP 192.0.2.25 z9hG4bKkdjuw", From: "sip:caller@example.com;tag=3413415", To: "sip:user@example.com", Contact: "sip:caller@host25.example.net", CallID: "multi01.98asdh@192.0.2.1", CSeq: "5 INVITE", ContentLength: 154, Body: 154, Len: 643}},
	// 3.3.9 multiple Content-Length values: framing unknown.
	{"mcl01.dat", view{Err: "Malformed Content-Length", Method: "OPTIONS", URI: "sip:user@example.com", Via: "UDP host5.example.net z9hG4bK293423", From: "sip:other@example.net;tag=3923942", To: "sip:user@example.com", CallID: "mcl01.fhn2323orihawfdoa3o4r52o3irsdf", CSeq: "15932 OPTIONS", ContentLength: -1, Body: 67, Len: 382}},
	// 3.3.10 200 OK response with broadcast Via header field value.
	{"bcast.dat", view{Method: "200 OK", Via: "UDP 192.0.2.198 z9hG4bK1324923", From: "sip:user@example.com;tag=11141343", To: "sip:user@example.edu;tag=2229", Contact: "sip:user@host28.example.com", CallID: "bcast.0384840201234ksdfak3j2erwedfsASdf", CSeq: "35 INVITE", ContentLength: 154, Body: 154, Len: 516}},
	// 3.3.11 Max-Forwards of zero.
	{"zeromf.dat", view{Method: "OPTIONS", URI: "sip:user@example.com", Via: "UDP host1.example.com z9hG4bKkdjuw2349i", From: "sip:caller@example.net;tag=3ghsd41", To: "sip:user@example.com", CallID: "zeromf.jfasdlfnm2o2l43r5u0asdfas", CSeq: "39234321 OPTIONS", ContentLength: 0, Len: 272}},
	// 3.3.12 REGISTER with a contact header parameter.
	{"cparam01.dat", view{Method: "REGISTER", URI: "sip:example.com", Via: "UDP saturn.example.com:5060 z9hG4bKkdjuw", From: "sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe", To: "sip:watson@example.com", Contact: "sip:+19725552222@gw1.example.net", CallID: "cparam01.70710@saturn.example.com", CSeq: "2 REGISTER", ContentLength: 0, Len: 321}},
	// 3.3.13 REGISTER with a URL parameter.
	{"cparam02.dat", view{Method: "REGISTER", URI: "sip:example.com", Via: "UDP saturn.example.com:5060 z9hG4bKkdjuw", From: "sip:watson@example.com;tag=838293", To: "sip:watson@example.com", Contact: "sip:+19725552222@gw1.example.net", CallID: "cparam02.70710@saturn.example.com", CSeq: "3 REGISTER", ContentLength: 0, Len: 311}},
	// 3.3.14 REGISTER with a URL escaped header.
	{"regescrt.dat", view{Method: "REGISTER", URI: "sip:example.com", Via: "UDP host5.example.com z9hG4bKkdjuw", From: "sip:user@example.com;tag=8", To: "sip:user@example.com", Contact: "sip:user@example.com", CallID: "regescrt.k345asrl3fdbv@192.0.2.1", CSeq: "14398234 REGISTER", ContentLength: 0, Len: 302}},
	// 3.3.15 unacceptable Accept offering.
	{"sdp01.dat", view{Method: "INVITE", URI: "sip:user@example.com", Via: "UDP 192.0.2.15 z9hG4bKkdjuw", From: "sip:caller@example.net;tag=234", To: "sip:j_user@example.com", Contact: "sip:caller@host15.example.net", CallID: "sdp01.ndaksdj9342dasdd", CSeq: "8 INVITE", ContentLength: 150, Body: 150, Len: 494}},
	// 3.4.1 INVITE with RFC 2543 syntax: no Content-Length, body is the rest.
	{"inv2543.dat", view{Method: "INVITE", URI: "sip:UserB@example.com", Via: "UDP iftgw.example.com ", From: "sip:+13035551111@ift.client.example.net", To: "sip:+16505552222@ss1.example.net", CallID: "inv2543.1717@ift.client.example.com", CSeq: "56 INVITE", ContentLength: -1, Body: 105, Len: 445}},
}

func TestTorture(t *testing.T) {
	files := testdata(t, "torture/*.dat")
	if len(files) != len(torture) {
		t.Errorf("%d files in testdata/torture, %d in the table", len(files), len(torture))
	}
	for _, tt := range torture {
		t.Run(tt.file, func(t *testing.T) {
			b, ok := files[tt.file]
			if !ok {
				t.Fatalf("no testdata/torture/%s", tt.file)
			}
			var m sipparse.Message
			err := sipparse.Parse(b, &m)
			if got := viewOf(&m, err); got != tt.want {
				t.Errorf("Parse:\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}
